// examples/typescript-config, run as a user runs it (its start script in a child process):
// the quickstart configured by tapgate.config.ts serves from both origins, and checks clean.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import http from 'node:http';
import { promisify } from 'node:util';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

const dir = join(root, 'examples', 'typescript-config');

describe('examples/typescript-config', () => {
  let example: RunningExample;
  before(async () => {
    example = await startExample(join(dir, 'start.ts'));
  });
  after(() => example.stop());

  it('answers from both origins in turn, through the quickstart plugin', async () => {
    // One kept-alive connection: one worker, whose round robin alternates.
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const get = (path: string) =>
      new Promise<{ body: string; servedBy: string | undefined }>((resolve, reject) => {
        http
          .get({ host: '127.0.0.1', port: 8082, path, agent }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve({ body, servedBy: res.headers['x-served-by-tapgate'] as string | undefined }));
          })
          .on('error', reject);
      });
    const answers = [await get('/one'), await get('/two')];
    agent.destroy();
    const origins = answers.map((a) => /^hello from (\w+): GET \/(one|two)\n$/.exec(a.body)?.[1]);
    assert.deepEqual([...origins].sort(), ['a', 'b'], JSON.stringify(answers));
    // The header the quickstart's plugin adds: generation/server.
    assert.deepEqual(
      answers.map((a) => a.servedBy?.split('/')[1]),
      origins,
    );
  });

  it('passes tapgate check', async () => {
    const file = join(dir, 'tapgate.config.ts');
    // execFile rejects on a non-zero exit, with the output in the error.
    const { stdout } = await promisify(execFile)(process.execPath, [join(root, 'bin', 'tapgate.mjs'), 'check', '-c', file, '--no-probe'], { cwd: root });
    assert.equal(stdout, `${file}: valid\n`);
  });
});
