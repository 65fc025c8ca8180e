// The stats listener in one process: who may ask, the runtime API (server state and
// weight without a reload), plugins answering on app.admin with merged metrics, and
// totals that survive a generation swap.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { checkConfig } from '../../../core/config/check.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { startGateway, startOrigin, tempDir, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { counterPlugin, readCount } from './fixture.ts';

const token = 'a-test-token-of-sufficient-length';

async function call(port: number, path: string, init: RequestInit = {}): Promise<{ status: number; body: any; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}

describe('stats listener, one process', () => {
  let a: TestOrigin;
  let b: TestOrigin;
  let gw: TestGateway;
  const config = () => ({
    stats: { bind: '127.0.0.1:0', token },
    plugins: ['./counter.ts'],
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
    backends: {
      app: {
        servers: [
          { name: 'a', address: a.address },
          { name: 'b', address: b.address },
        ],
      },
    },
  });
  const auth = { authorization: `Bearer ${token}` };
  before(async () => {
    a = await startOrigin('a');
    b = await startOrigin('b');
    gw = await startGateway(config(), { 'counter.ts': counterPlugin });
  });
  after(async () => {
    await gw.close();
    await a.close();
    await b.close();
  });
  const stats = () => gw.gateway.statsPort!;
  const hit = async (n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(await (await fetch(gw.url('/'))).text());
    return seen;
  };

  it('refuses a request without the token, and one with a wrong token', async () => {
    assert.equal((await call(stats(), '/api/servers')).status, 401);
    assert.equal((await call(stats(), '/api/servers', { headers: { authorization: `Bearer ${token}x` } })).status, 401);
    assert.equal((await call(stats(), '/api/servers', { headers: auth })).status, 200);
  });

  it('lists servers with state, weight and health', async () => {
    const { body } = await call(stats(), '/api/servers', { headers: auth });
    assert.deepEqual(
      body.map((s: any) => [s.backend, s.server, s.state, s.weight, s.up]),
      [
        ['app', 'a', 'ready', 1, true],
        ['app', 'b', 'ready', 1, true],
      ],
    );
    assert.equal(typeof body[0].health.passing, 'boolean');
  });

  it('drain through the API stops new requests to the server at once, without a reload', async () => {
    const r = await call(stats(), '/api/servers/app/a', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'drain' }) });
    assert.equal(r.status, 200);
    assert.equal(r.body.state, 'drain');
    assert.deepEqual(await hit(6), ['b', 'b', 'b', 'b', 'b', 'b'], 'the very next request avoids a');
    assert.equal(gw.gateway.generation.id, 1, 'no reload happened');
    await call(stats(), '/api/servers/app/a', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'ready', weight: 2 }) });
    const seen = await hit(6);
    assert.equal(seen.filter((x) => x === 'a').length, 4, `weight 2 against 1: ${seen}`);
    await call(stats(), '/api/servers/app/a', { method: 'POST', headers: auth, body: JSON.stringify({ weight: 1 }) });
  });

  it('says what is wrong with a change', async () => {
    const post = (path: string, body: string) => call(stats(), path, { method: 'POST', headers: auth, body });
    assert.deepEqual(
      [(await post('/api/servers/app/zz', '{"state":"drain"}')).status, (await post('/api/servers/app/zz', '{"state":"drain"}')).body.error],
      [404, 'no server "zz" in backend "app"'],
    );
    assert.match((await post('/api/servers/app/a', '{"state":"off"}')).body.error, /expected state "ready", "drain" or "maint"/);
    assert.match((await post('/api/servers/app/a', '{"weight":999}')).body.error, /weight an integer from 0 to 256/);
    assert.match((await post('/api/servers/app/a', '{"colour":1}')).body.error, /unknown key "colour"/);
    assert.match((await post('/api/servers/app/a', 'drain')).body.error, /expected a JSON body/);
    assert.equal((await post('/api/reload', '')).status, 409, 'no reload in a test gateway');
  });

  it('plugins answer on app.admin with the metrics; totals survive a generation swap, and run-time changes too', async () => {
    const before = readCount((await call(stats(), '/count', { headers: auth })).body);
    await hit(4);
    const now = readCount((await call(stats(), '/count', { headers: auth })).body);
    const total = (c: typeof now) => Object.values(c.requests).reduce((x, y) => x + y, 0);
    assert.equal(total(now) - total(before), 4);
    await call(stats(), '/api/servers/app/b', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'maint' }) });
    // A new generation from the same file: its counters start at 0, the old one's are kept.
    const next = await checkConfig(gw.file, { builtins, logger: createLogger('silent'), keep: true, generationId: 2 });
    assert.ok(next.generation);
    await gw.gateway.swap(next.generation, 50);
    assert.deepEqual(await hit(3), ['a', 'a', 'a'], 'b stays in maintenance in the new generation');
    const whileDraining = readCount((await call(stats(), '/count', { headers: auth })).body);
    assert.equal(total(whileDraining), total(now) + 3, 'the draining generation still counts');
    // The old generation is disposed 50 ms after its drain: then its counts join the kept totals.
    for (let i = 0; gw.gateway.retiring > 0; i++) {
      assert.ok(i < 100, 'the old generation is gone within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const after = readCount((await call(stats(), '/count', { headers: auth })).body);
    assert.equal(total(after), total(now) + 3, 'counts of the old generation are kept');
    assert.equal(after.generation, 2);
    await call(stats(), '/api/servers/app/b', { method: 'POST', headers: auth, body: JSON.stringify({ state: 'ready' }) });
  });

  it('alone, a broadcast reaches this process', async () => {
    assert.deepEqual((await call(stats(), '/whoami', { headers: auth })).body, [process.pid]);
  });

  it('anything else is a 404 naming the API', async () => {
    const r = await call(stats(), '/nothing', { headers: auth });
    assert.equal(r.status, 404);
  });
});

describe('stats listener checks and access', () => {
  it('a stats listener beyond loopback needs a token or basic auth; admin: false makes the API read-only', async () => {
    const dir = tempDir();
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(
      file,
      stringify({
        stats: { bind: '0.0.0.0:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: { app: { servers: [{ name: 'a', address: '127.0.0.1:1' }] } },
      }),
    );
    const r = await checkConfig(file, { builtins, logger: createLogger('silent') });
    assert.deepEqual(
      r.problems.map((p) => `${p.path}: ${p.message}`),
      ['stats.bind: the stats listener on 0.0.0.0:0 is reachable beyond this machine without protection'],
    );

    const origin = await startOrigin('o');
    const gw = await startGateway({
      stats: { bind: '127.0.0.1:0', admin: false, basic_auth: { user: 'ops', password: 'correct-horse' } },
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: { servers: [{ name: 'a', address: origin.address }] } },
    });
    try {
      const port = gw.gateway.statsPort!;
      const without = await call(port, '/api/status');
      assert.equal(without.status, 401);
      assert.equal(without.headers.get('www-authenticate'), 'Basic realm="tapgate stats"');
      const basic = { authorization: `Basic ${Buffer.from('ops:correct-horse').toString('base64')}` };
      assert.equal((await call(port, '/api/status', { headers: basic })).status, 200);
      const write = await call(port, '/api/servers/app/a', { method: 'POST', headers: basic, body: '{"state":"drain"}' });
      assert.equal(write.status, 403);
      assert.match(write.body.error, /read-only/);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('without a token, loopback clients are served', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway({
      stats: { bind: '127.0.0.1:0' },
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: { servers: [{ name: 'a', address: origin.address }] } },
    });
    try {
      const r = await call(gw.gateway.statsPort!, '/api/status');
      assert.equal(r.status, 200);
      assert.equal(r.body.generation, 1);
    } finally {
      await gw.close();
      await origin.close();
    }
  });
});
