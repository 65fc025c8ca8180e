import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { deadPort, root, startOrigin, tempDir } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

describe('tapgate CLI', () => {
  it('prints its version and help', () => {
    const version = spawnSync(process.execPath, [bin, '--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0);
    assert.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
    const help = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /tapgate run\s+-c FILE/);
    assert.match(help.stdout, /tapgate check\s+-c FILE/);
    // A command the stats plugin adds (sdk/commands.ts).
    assert.match(help.stdout, /tapgate stats\s+-c FILE \[--token T\].*\n\s+frontends, backends and servers from the stats listener/);
  });

  it('runs a config, logs one JSON access line per request, and stops cleanly on SIGTERM', async () => {
    const origin = await startOrigin('o');
    const dir = tempDir();
    const port = await deadPort();
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(
      file,
      `
log: { level: info, access: true }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app }
backends:
  app: { servers: [ { name: o, address: ${origin.address} } ] }
`,
    );
    const child = spawn(process.execPath, [bin, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    try {
      const events = createInterface({ input: child.stderr! });
      for await (const line of events) if (line.includes('tapgate serving')) break;
      const access = createInterface({ input: child.stdout! });
      const firstAccess = once(access, 'line');
      const res = await get(`http://127.0.0.1:${port}/hello?x=1`);
      assert.equal(res.status, 200);
      const entry = JSON.parse(((await firstAccess) as [string])[0]);
      assert.equal(entry.frontend, 'web');
      assert.equal(entry.backend, 'app');
      assert.equal(entry.server, 'o');
      assert.equal(entry.status, 200);
      assert.equal(entry.path, '/hello');
      assert.equal(typeof entry.total_ms, 'number');
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number];
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
      await origin.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to run an invalid config, printing its problems, and binds nothing', async () => {
    const dir = tempDir();
    const port = await deadPort();
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(file, `frontends:\n  web: { bind: 127.0.0.1:${port}, default_backend: nowhere }\n`);
    const run = spawnSync(process.execPath, [bin, 'run', '-c', file], { encoding: 'utf8', timeout: 20_000 });
    rmSync(dir, { recursive: true, force: true });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /frontends\.web\.default_backend: backend "nowhere" does not exist/);
  });
});
