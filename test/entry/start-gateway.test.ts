// `startGateway` from 'tapgate' (entry/index.ts): a gateway run from code, from a file or
// an object with plugins kept in memory, reloaded, refusing a bad reload while it keeps
// serving, and as a master with a worker of its own.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, definePlugin, startGateway, type RunningGateway } from 'tapgate';

const root = fileURLToPath(new URL('../..', import.meta.url));

function tempDir(): string {
  const base = join(root, 'test', '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 'entry-'));
}

/** A GET on a connection of its own (after a reload, a kept-alive one could reach the generation before). */
function get(port: number, path = '/'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** An origin answering its name. */
async function startOrigin(name: string): Promise<{ address: string; close(): Promise<void> }> {
  const server = http.createServer((_req, res) => res.end(`${name}\n`));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

const yaml = (backend: string) => `
log: { level: silent, access: false }
stats: { bind: 127.0.0.1:0 }
frontends:
  web: { bind: 127.0.0.1:0, default_backend: app }
backends:
  app: { servers: [{ name: s, address: ${backend} }] }
`;

describe('startGateway', () => {
  let a: Awaited<ReturnType<typeof startOrigin>>;
  let b: Awaited<ReturnType<typeof startOrigin>>;
  let dir: string;
  before(async () => {
    [a, b] = await Promise.all([startOrigin('a'), startOrigin('b')]);
    dir = tempDir();
  });
  after(async () => {
    await Promise.all([a.close(), b.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves a YAML file with the built-ins, gives its stats port and metrics, and reloads the file', async () => {
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(file, yaml(a.address));
    const gateway = await startGateway({ config: file });
    const port = gateway.port();
    try {
      assert.equal((await get(port)).body, 'a\n');
      assert.equal(gateway.port('web'), gateway.port());
      // The stats plugin (a built-in) answers on the stats listener.
      const stats = await get(gateway.statsPort!, '/stats.json');
      assert.equal(stats.status, 200);
      assert.equal(JSON.parse(stats.body).frontends[0].name, 'web');
      const sessions = (await gateway.metrics()).find((m) => m.name.endsWith('frontend_sessions_total'));
      assert.equal(sessions?.type === 'counter' && sessions.values.find((v) => v.labels.frontend === 'web')?.value, 1);

      writeFileSync(file, yaml(b.address));
      await gateway.reload();
      assert.equal(gateway.generation, 2);
      assert.equal(gateway.port(), port);
      assert.equal((await get(port)).body, 'b\n');
    } finally {
      await gateway.close();
    }
    await assert.rejects(get(port), /ECONNREFUSED/);
  });

  it('serves a config object with a plugin kept in memory, on its clock, with the access log as objects', async () => {
    const entries: Record<string, unknown>[] = [];
    const stamp = definePlugin({
      name: 'stamp',
      version: '1.0.0',
      setup(api) {
        api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => {
          res.headers['x-stamp'] = String(api.now());
        });
      },
    });
    const gateway = await startGateway({
      config: {
        log: { level: 'silent' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['stamp'] } },
        backends: { app: { servers: [{ name: 's', address: a.address }] } },
      },
      dir,
      plugins: { stamp },
      now: () => 42,
      accessLog: (entry) => entries.push(entry),
    });
    try {
      const res = await get(gateway.port(), '/x');
      assert.deepEqual([res.status, res.body, res.headers['x-stamp']], [200, 'a\n', '42']);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]!.status, 200);
      assert.equal(entries[0]!.frontend, 'web');
    } finally {
      await gateway.close();
    }
  });

  it('rejects a reload with a bad config, listing its problems, and keeps serving the one before', async () => {
    const config = (backend: string) => ({
      log: { level: 'silent' as const, access: false },
      frontends: { web: { bind: '127.0.0.1:0', default_backend: backend } },
      backends: { app: { servers: [{ name: 's', address: a.address }] } },
    });
    const gateway = await startGateway({ config: config('app') });
    try {
      const err = await gateway.reload(config('nowhere')).then(
        () => assert.fail('the reload was accepted'),
        (e: unknown) => e,
      );
      assert.ok(err instanceof ConfigError, String(err));
      assert.ok(
        err.problems.some((p) => p.severity === 'error' && p.path === 'frontends.web.default_backend' && /"nowhere" does not exist/.test(p.message)),
        JSON.stringify(err.problems),
      );
      assert.equal(gateway.generation, 1);
      assert.equal((await get(gateway.port())).body, 'a\n');
      // The refused config was not kept: a plain reload rebuilds the one serving.
      await gateway.reload();
      assert.equal(gateway.generation, 3);
    } finally {
      await gateway.close();
    }
  });

  it('rejects a config with errors at start, with every problem', async () => {
    await assert.rejects(
      startGateway({ config: { frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['missing'] } }, backends: {} } }),
      (err: unknown) => err instanceof ConfigError && err.problems.filter((p) => p.severity === 'error').length >= 2,
    );
  });

  it('runs as a master with its worker, from a file, reloading it', async () => {
    const file = join(dir, 'master.yaml');
    writeFileSync(file, `workers: 1\n${yaml(a.address)}`);
    let gateway: RunningGateway | undefined;
    try {
      gateway = await startGateway({ config: file, master: true });
      assert.equal((await get(gateway.port())).body, 'a\n');
      assert.equal((await get(gateway.statsPort!, '/stats.json')).status, 200);
      writeFileSync(file, `workers: 1\n${yaml(b.address)}`);
      await gateway.reload();
      assert.equal(gateway.generation, 2);
      assert.equal((await get(gateway.port())).body, 'b\n');
      writeFileSync(file, `workers: 1\n${yaml(a.address)}\n  broken: {`);
      await assert.rejects(gateway.reload(), ConfigError);
      assert.equal((await get(gateway.port())).body, 'b\n');
    } finally {
      await gateway?.close();
    }
  });

  it("refuses what cannot reach a master's workers", async () => {
    await assert.rejects(startGateway({ config: join(dir, 'tapgate.yaml'), master: true, now: () => 0 }), /now cannot reach a master's workers/);
  });
});
