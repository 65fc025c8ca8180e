import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { definePlugin, Stage } from '../../sdk/index.ts';
import { createTestGateway, type TestGateway, type TestGatewayOptions } from '../../sdk/testing.ts';

const web = (extra: object = {}) => ({ frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', ...extra } }, backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } } });

/** Answers `/now` with the plugins' clock. */
const clockPlugin = definePlugin({
  name: 'clock',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx) => (ctx.path === '/now' ? { status: 200, body: String(api.now()) } : undefined));
    return () => {};
  },
});

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await sleep(10);
  assert.ok(ok());
}

describe('createTestGateway', () => {
  const open: TestGateway[] = [];
  after(() => Promise.all(open.map((t) => t.close())));
  const start = async (o: TestGatewayOptions) => {
    const t = await createTestGateway(o);
    open.push(t);
    return t;
  };

  it('serves the config against its origins, named as origin:<name>, and records what they saw', async () => {
    const t = await start({ config: web(), origins: { app: 'echo' } });
    const res = await t.request({ path: '/a?b=1', method: 'POST', headers: { host: 'shop.example', 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    const echo = JSON.parse(res.body);
    assert.deepEqual([echo.origin, echo.method, echo.url, echo.body, echo.headers.host], ['app', 'POST', '/a?b=1', 'hello', 'shop.example']);
    assert.deepEqual(t.origins.app!.requests.map((r) => `${r.method} ${r.url}`), ['POST /a?b=1']);
    assert.match(t.origins.app!.address, /^127\.0\.0\.1:\d+$/);
  });

  it('an origin may be any node:http handler', async () => {
    const t = await start({ config: web(), origins: { app: (_req, res) => res.writeHead(418, { 'x-tea': 'yes' }).end('short and stout') } });
    const res = await t.request('/');
    assert.deepEqual([res.status, res.headers.get('x-tea'), res.body], [418, 'yes', 'short and stout']);
  });

  it('sends requests over a kept-alive connection, or a fresh one when asked', async () => {
    let accepted = 0;
    const counter = definePlugin({
      name: 'counter',
      version: '1.0.0',
      setup(api) {
        api.hooks.http.accept.tap(api.name, () => void accepted++);
        return () => {};
      },
    });
    const t = await start({ config: web({ plugins: ['counter'] }), plugins: { counter }, origins: { app: 'echo' } });
    for (let i = 0; i < 3; i++) assert.equal((await t.request('/')).status, 200);
    assert.equal(accepted, 1, 'one connection for three requests');
    assert.equal((await t.request({ path: '/', fresh: true })).status, 200);
    assert.equal(accepted, 2);
  });

  it('loads plugins given in memory or as source, under the name `use:` says', async () => {
    const source = `import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'tag',
  version: '1.0.0',
  setup(api, options) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => { res.headers['x-tag'] = String(options.value); });
    return () => {};
  },
});
`;
    const t = await start({
      config: { ...web({ plugins: [{ use: './clock.ts' }, { use: './tag.ts', options: { value: 'from-source' } }] }) },
      plugins: { './clock.ts': clockPlugin, './tag.ts': source },
      origins: { app: 'echo' },
    });
    assert.equal((await t.request('/x')).headers.get('x-tag'), 'from-source');
    assert.equal((await t.request('/now')).status, 200);
  });

  it('the plugins\' clock moves only when the test moves it', async () => {
    const t = await start({ config: web({ plugins: [{ use: 'clock' }] }), plugins: { clock: clockPlugin }, origins: { app: 'echo' } });
    const before = Number((await t.request('/now')).body);
    assert.equal(before, t.clock.now());
    await sleep(20);
    assert.equal(Number((await t.request('/now')).body), before);
    t.clock.advance(60_000);
    assert.equal(Number((await t.request('/now')).body), before + 60_000);
  });

  it('captures the access log as objects', async () => {
    const t = await start({ config: web(), origins: { app: 'echo' } });
    await t.request('/logged');
    await until(() => t.logs.length === 1);
    assert.deepEqual([t.logs[0]!.frontend, t.logs[0]!.backend, t.logs[0]!.server, t.logs[0]!.method, t.logs[0]!.path, t.logs[0]!.status], ['web', 'app', 's1', 'GET', '/logged', 200]);
  });

  it('opens TCP streams to a frontend', async () => {
    const t = await start({ config: { frontends: { raw: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'app' } }, backends: { app: { mode: 'tcp', servers: [{ name: 's1', address: 'origin:app' }] } } }, origins: { app: 'echo' } });
    const socket = await t.tcp();
    socket.write('GET /through-tcp HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    const raw = Buffer.concat(await socket.toArray()).toString();
    assert.match(raw, /^HTTP\/1\.1 200 OK/);
    assert.match(raw, /"url":"\/through-tcp"/);
    await until(() => t.logs.length === 1);
    assert.equal(t.logs[0]!.mode, 'tcp');
  });

  it('reads /stats.json when the config has a stats listener, else the metrics', async () => {
    const withStats = await start({ config: { ...web(), stats: { bind: '127.0.0.1:0', token: 'a-token-of-sixteen-chars' } }, origins: { app: 'echo' } });
    await withStats.request('/');
    const report = (await withStats.stats()) as { frontends: { name: string }[]; backends: { name: string }[] };
    assert.deepEqual(report.frontends.map((f) => f.name), ['web']);
    assert.deepEqual(report.backends.map((b) => b.name), ['app']);
    const plain = await start({ config: web(), origins: { app: 'echo' } });
    await plain.request('/');
    assert.ok(Array.isArray(await plain.stats()));
  });

  it('says which origin is missing', async () => {
    await assert.rejects(createTestGateway({ config: web(), origins: { api: 'echo' } }), /origin:app: no such origin \(origins: api\)/);
  });

  it('reports an invalid config with its problems', async () => {
    await assert.rejects(createTestGateway({ config: { frontends: { web: { bind: '127.0.0.1:0', default_backend: 'nope' } } } }), /config invalid:\n.*nope/);
  });

  it('closes cleanly: listeners, origins, sockets and its folder', async () => {
    const t = await createTestGateway({ config: web(), origins: { app: 'echo' } });
    await t.request('/');
    const socket = await t.tcp();
    const [port, origin, dir] = [t.port(), t.origins.app!.port, t.dir];
    await t.close();
    assert.ok(socket.destroyed);
    assert.equal(existsSync(dir), false);
    for (const p of [port, origin]) {
      await assert.rejects(new Promise((resolve, reject) => net.connect(p, '127.0.0.1', () => resolve(undefined)).on('error', reject)), /ECONNREFUSED/);
    }
  });
});
