// The gateway binary (scripts/build-binary.mjs), built once, run from a folder outside the
// repository (no node_modules anywhere above it) with an empty PATH: only what is inside
// the binary, and the esbuild copied beside it where a test says so.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadPort, root, startOrigin, type TestOrigin } from '../helpers/gateway.ts';

const dist = join(root, 'dist');
let home: string;
let env: NodeJS.ProcessEnv;

/** A folder holding a copy of the binary, and of dist/esbuild when asked. */
function install(name: string, withEsbuild: boolean): string {
  const dir = join(home, name);
  mkdirSync(dir);
  copyFileSync(join(dist, 'tapgate'), join(dir, 'tapgate'));
  if (withEsbuild) copyFileSync(join(dist, 'esbuild'), join(dir, 'esbuild'));
  return dir;
}

function tapgate(dir: string, args: string[]) {
  return spawnSync(join(dir, 'tapgate'), args, { cwd: dir, env, encoding: 'utf8', timeout: 30_000 });
}

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    // A fresh connection each time: after a reload, a kept-alive one would reach the draining worker.
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** Starts `tapgate run`; resolves once it logs "tapgate serving", with how long that took. */
async function serve(dir: string, config: string): Promise<{ child: ChildProcess; ms: number }> {
  const started = performance.now();
  const child = spawn(join(dir, 'tapgate'), ['run', '-c', config], { cwd: dir, env, stdio: ['ignore', 'ignore', 'pipe'] });
  // Read stderr to the end (a reader that stopped would close the pipe, and the gateway's next log line would kill it).
  let log = '';
  return new Promise((resolve, reject) => {
    let serving = false;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      log += chunk;
      if (!serving && log.includes('tapgate serving')) {
        serving = true;
        resolve({ child, ms: Math.round(performance.now() - started) });
      }
    });
    child.once('exit', () => serving || reject(new Error(`tapgate run exited before serving:\n${log}`)));
  });
}

async function stop(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  child.kill('SIGTERM');
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

describe('the gateway binary', { timeout: 180_000 }, () => {
  let origin: TestOrigin;

  before(async () => {
    const built = spawnSync(process.execPath, [join(root, 'scripts', 'build-binary.mjs')], { cwd: root, encoding: 'utf8', timeout: 120_000 });
    assert.equal(built.status, 0, `build:binary failed:\n${built.stdout}${built.stderr}`);
    home = mkdtempSync(join(tmpdir(), 'tapgate-binary-'));
    const emptyPath = join(home, 'empty-path');
    mkdirSync(emptyPath);
    env = { ...process.env, PATH: emptyPath };
    origin = await startOrigin('o');
  });

  after(async () => {
    await origin?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it('prints the version of the package it was built from', (t) => {
    const dir = install('version', false);
    const run = tapgate(dir, ['--version']);
    assert.equal(run.status, 0, run.stderr);
    assert.equal(run.stdout, `${JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version}\n`);
    t.diagnostic(`dist/tapgate: ${(statSync(join(dist, 'tapgate')).size / 1024 / 1024).toFixed(1)} MB`);
  });

  it('checks the quickstart example, whose TypeScript plugin esbuild beside the binary compiles', () => {
    const dir = install('check', true);
    cpSync(join(root, 'examples', 'quickstart'), join(dir, 'quickstart'), { recursive: true });
    const run = tapgate(dir, ['check', '-c', 'quickstart/tapgate.yaml', '--no-probe', '--no-types']);
    assert.equal(run.status, 0, run.stdout + run.stderr);
    assert.match(run.stdout, /tapgate\.yaml: valid/);
  });

  it('checks every example configuration', () => {
    const dir = install('examples', true);
    cpSync(join(root, 'examples'), join(dir, 'examples'), { recursive: true, filter: (src) => !src.includes('.tapgate') });
    const configs = readdirSync(join(root, 'examples')).flatMap((name) =>
      ['tapgate.yaml', 'tapgate.config.ts'].filter((f) => existsSync(join(root, 'examples', name, f))).map((f) => `examples/${name}/${f}`),
    );
    assert.ok(configs.length >= 6, `examples found: ${configs.join(', ')}`);
    for (const config of configs) {
      const run = tapgate(dir, ['check', '-c', config, '--no-probe', '--no-types']);
      assert.equal(run.status, 0, `${config}:\n${run.stdout}${run.stderr}`);
    }
  });

  it('runs every example configuration until it serves, then stops it', async (t) => {
    const dir = install('examples-run', true);
    cpSync(join(root, 'examples'), join(dir, 'examples'), { recursive: true, filter: (src) => !src.includes('.tapgate') });
    const configs = readdirSync(join(root, 'examples')).flatMap((name) =>
      ['tapgate.yaml', 'tapgate.config.ts'].filter((f) => existsSync(join(root, 'examples', name, f))).map((f) => `examples/${name}/${f}`),
    );
    for (const config of configs) {
      const { child, ms } = await serve(dir, config);
      t.diagnostic(`${config}: serving after ${ms} ms`);
      // Its first listening address takes a connection.
      const port = Number(/127\.0\.0\.1:(\d+)/.exec(readFileSync(join(root, config), 'utf8'))![1]);
      await new Promise<void>((resolve, reject) => {
        const socket = net.connect(port, '127.0.0.1', () => (socket.destroy(), resolve()));
        socket.once('error', reject);
      });
      const code = await stop(child);
      assert.equal(code, 0, `${config} stopped cleanly (signal ${child.signalCode})`);
    }
  });

  it('without esbuild, a TypeScript plugin is an error saying where to put one', () => {
    const dir = install('no-esbuild', false);
    cpSync(join(root, 'examples', 'quickstart'), join(dir, 'quickstart'), { recursive: true });
    const run = tapgate(dir, ['check', '-c', 'quickstart/tapgate.yaml', '--no-probe', '--no-types']);
    assert.equal(run.status, 1);
    assert.match(run.stdout + run.stderr, /needs esbuild [\d.]+, found neither beside the gateway \(.*\/no-esbuild\/esbuild\) nor on PATH/);
  });

  for (const workers of [1, 0]) {
    it(`serves requests with workers: ${workers}, a .mjs plugin loaded without esbuild`, async (t) => {
      const dir = install(`run-${workers}`, false);
      const port = await deadPort();
      // Without esbuild a plain module loads as it is: it may import types from tapgate/sdk, not values.
      writeFileSync(
        join(dir, 'stamp.mjs'),
        `export default {
  name: 'stamp',
  setup(api) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (ctx, res) => { res.headers['x-stamp'] = String(api.generation.id); });
  },
};
`,
      );
      writeFileSync(
        join(dir, 'tapgate.yaml'),
        `workers: ${workers}
log: { level: info }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app, plugins: [ ./stamp.mjs ] }
backends:
  app: { balance: roundrobin, servers: [ { name: o, address: ${origin.address} } ] }
`,
      );
      const { child, ms } = await serve(dir, 'tapgate.yaml');
      try {
        t.diagnostic(`cold start to "tapgate serving" with workers: ${workers}: ${ms} ms`);
        const res = await get(`http://127.0.0.1:${port}/hello`);
        assert.equal(res.status, 200);
        assert.equal(res.body, 'o');
        assert.equal(res.headers['x-stamp'], '1');
      } finally {
        assert.equal(await stop(child), 0);
      }
    });
  }

  it('runs a TypeScript plugin importing tapgate/sdk, and explains, reports stats, reloads and stops', async (t) => {
    const dir = install('typescript', true);
    cpSync(join(root, 'examples', 'quickstart', 'hello-header.ts'), join(dir, 'hello-header.ts'));
    const [port, statsPort] = [await deadPort(), await deadPort()];
    writeFileSync(
      join(dir, 'tapgate.yaml'),
      `workers: 1
log: { level: info }
stats: { bind: 127.0.0.1:${statsPort} }
frontends:
  web:
    bind: 127.0.0.1:${port}
    default_backend: app
    plugins: [ { use: ./hello-header.ts, options: { header: x-hello } } ]
backends:
  app: { servers: [ { name: o, address: ${origin.address} } ] }
`,
    );
    const { child, ms } = await serve(dir, 'tapgate.yaml');
    try {
      t.diagnostic(`cold start to "tapgate serving" with a TypeScript plugin, one worker: ${ms} ms`);
      assert.equal((await get(`http://127.0.0.1:${port}/x`)).headers['x-hello'], '1/o');
      assert.equal((await get(`http://127.0.0.1:${port}/healthz`)).body, 'ok\n');

      const explain = tapgate(dir, ['explain', '-c', 'tapgate.yaml', '--request', 'GET http://example.test/x']);
      assert.equal(explain.status, 0, explain.stderr);
      assert.match(explain.stdout, /hello-header/);

      const stats = tapgate(dir, ['stats', '-c', 'tapgate.yaml', '--format', 'json']);
      assert.equal(stats.status, 0, stats.stderr);
      assert.ok(JSON.parse(stats.stdout));

      const reload = tapgate(dir, ['reload', '-c', 'tapgate.yaml']);
      assert.equal(reload.status, 0, reload.stdout + reload.stderr);
      assert.equal((await get(`http://127.0.0.1:${port}/x`)).headers['x-hello'], '2/o');

      const stopped = tapgate(dir, ['stop', '-c', 'tapgate.yaml']);
      assert.equal(stopped.status, 0, stopped.stderr);
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
    } finally {
      await stop(child);
    }
  });
});
