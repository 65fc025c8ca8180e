// examples/one-port, run as a user runs it (its start script in a child process):
// HTTP, HTTPS and SSH answered on the one port.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

const dir = join(root, 'examples', 'one-port');
const get = (mod: typeof http | typeof https, options: https.RequestOptions) =>
  new Promise<string>((resolve, reject) => {
    mod
      .get({ agent: false, ...options }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });

describe('examples/one-port', () => {
  let example: RunningExample;
  before(async () => {
    example = await startExample(join(dir, 'start.ts'));
  });
  after(() => example.stop());

  it('answers HTTP, HTTPS (terminated, with the demo certificate) and SSH on 127.0.0.1:8000', async () => {
    const plain = await get(http, { host: '127.0.0.1', port: 8000, path: '/plain' });
    assert.equal(plain, 'hello from the web origin: GET /plain (http)\n');
    const secure = await get(https, {
      host: '127.0.0.1',
      port: 8000,
      path: '/secure',
      servername: 'localhost',
      ca: readFileSync(join(dir, 'certs', 'demo.pem')),
    });
    assert.equal(secure, 'hello from the web origin: GET /secure (https)\n');
    const ssh = net.connect(8000, '127.0.0.1');
    ssh.write('SSH-2.0-test_client\r\n');
    let seen = '';
    for await (const chunk of ssh) {
      seen += chunk;
      if (seen.includes('received')) break;
    }
    ssh.destroy();
    assert.match(seen, /^SSH-2\.0-tapgate_demo_double\r\n\(demo SSH double\) received 21 bytes/);
  });
});
