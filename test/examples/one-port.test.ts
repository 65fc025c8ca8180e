// examples/one-port, run as a user runs it (its start script in a child process):
// HTTP, HTTPS and SSH answered on the one port.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { root } from '../helpers/gateway.ts';

const dir = join(root, 'examples', 'one-port');
const get = (mod: typeof http | typeof https, options: https.RequestOptions) =>
  new Promise<string>((resolve, reject) => {
    mod.get({ agent: false, ...options }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });

describe('examples/one-port', () => {
  let child: ChildProcess;
  before(async () => {
    child = spawn(process.execPath, ['--import', 'tsx', join(dir, 'start.ts')], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    // Ready when the gateway logs that it serves (the process log goes to stderr, access logs to stdout).
    child.stdout!.resume();
    const lines = createInterface({ input: child.stderr! });
    let stderr = '';
    await new Promise<void>((resolve, reject) => {
      lines.on('line', (line) => {
        stderr += line + '\n';
        if (line.includes('tapgate serving')) resolve();
      });
      child.once('exit', (code) => reject(new Error(`the example exited (${code}):\n${stderr}`)));
    });
  });
  after(async () => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await once(child, 'exit');
  });

  it('answers HTTP, HTTPS (terminated, with the demo certificate) and SSH on 127.0.0.1:8000', async () => {
    const plain = await get(http, { host: '127.0.0.1', port: 8000, path: '/plain' });
    assert.equal(plain, 'hello from the web origin: GET /plain (http)\n');
    const secure = await get(https, { host: '127.0.0.1', port: 8000, path: '/secure', servername: 'localhost', ca: readFileSync(join(dir, 'certs', 'demo.pem')) });
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
