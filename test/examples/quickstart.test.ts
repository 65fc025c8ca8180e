// The README's first command (`npm start`): the quickstart with its demo origins, run as a
// user runs it, answering from both origins with the user plugin's header.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

function get(path: string, agent: http.Agent): Promise<{ status: number; body: string; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: 8080, path, agent }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      })
      .on('error', reject);
  });
}

describe('npm start (examples/quickstart)', () => {
  let example: RunningExample;
  before(async () => {
    // What `npm start` runs (package.json's start script), without npm in between to pass signals on.
    const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts.start as string;
    assert.equal(start, 'node --import tsx examples/quickstart/start.ts');
    example = await startExample('examples/quickstart/start.ts');
  });
  after(() => example.stop());

  it('answers from both demo origins, round robin, with the plugin header, and /healthz itself', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const first = await get('/', agent);
    const second = await get('/', agent);
    agent.destroy();
    assert.deepEqual([first.status, second.status], [200, 200]);
    assert.deepEqual([first.body, second.body].map((b) => b.split(':')[0]).sort(), ['hello from a', 'hello from b']);
    assert.match(String(first.headers['x-served-by-tapgate']), /^\d+\/[ab]$/);
    const health = await get('/healthz', new http.Agent());
    assert.deepEqual([health.status, health.body], [200, 'ok\n']);
  });
});
