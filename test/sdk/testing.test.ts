import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { defineMatcher, definePlugin, Stage, z, type Balancer } from 'tapgate/sdk';
import {
  checkTestConfig,
  compileMatch,
  createTestGateway,
  createTestMaster,
  echoed,
  eligibleServers,
  get,
  httpContext,
  parsePrometheus,
  pickFrom,
  readUntil,
  runTapgate,
  seededRandom,
  tcpContext,
  TestCa,
  TestServer,
  testMetrics,
  unusedPort,
  type TestGateway,
  type TestGatewayOptions,
} from 'tapgate/sdk/testing';

const web = (extra: object = {}) => ({
  frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', ...extra } },
  backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
});

/** Answers `/now` with the plugins' clock. */
const clockPlugin = definePlugin({
  name: 'clock',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx) =>
      ctx.path === '/now' ? { status: 200, body: String(api.now()) } : undefined,
    );
    return () => {};
  },
});

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !ok(); i++) await sleep(10);
  assert.ok(ok());
}

/** Starts gateways for one suite, closed after it. Call inside `describe`. */
function starter(): (o: TestGatewayOptions) => Promise<TestGateway> {
  const open: TestGateway[] = [];
  after(() => Promise.all(open.map((t) => t.close())));
  return async (o) => {
    const t = await createTestGateway(o);
    open.push(t);
    return t;
  };
}

describe('createTestGateway', () => {
  const start = starter();

  it('serves the config against its origins, named as origin:<name>, and records what they saw', async () => {
    const t = await start({ config: web(), origins: { app: 'echo' } });
    const res = await t.request({ path: '/a?b=1', method: 'POST', headers: { host: 'shop.example', 'content-type': 'text/plain' }, body: 'hello' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'application/json');
    const echo = JSON.parse(res.body);
    assert.deepEqual([echo.origin, echo.method, echo.url, echo.body, echo.headers.host], ['app', 'POST', '/a?b=1', 'hello', 'shop.example']);
    assert.deepEqual(
      t.origins.app!.requests.map((r) => `${r.method} ${r.url}`),
      ['POST /a?b=1'],
    );
    assert.match(t.origins.app!.address, /^127\.0\.0\.1:\d+$/);
  });

  it('an origin may be any node:http handler', async () => {
    const t = await start({ config: web(), origins: { app: (_req, res) => res.writeHead(418, { 'x-tea': 'yes' }).end('short and stout') } });
    const res = await t.request('/');
    assert.deepEqual([res.status, res.headers['x-tea'], res.body], [418, 'yes', 'short and stout']);
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
    assert.equal((await t.request('/x')).headers['x-tag'], 'from-source');
    assert.equal((await t.request('/now')).status, 200);
  });

  it("the plugins' clock moves only when the test moves it", async () => {
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
    assert.deepEqual(
      [t.logs[0]!.frontend, t.logs[0]!.backend, t.logs[0]!.server, t.logs[0]!.method, t.logs[0]!.path, t.logs[0]!.status],
      ['web', 'app', 's1', 'GET', '/logged', 200],
    );
  });

  it('opens TCP streams to a frontend', async () => {
    const t = await start({
      config: {
        frontends: { raw: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'app' } },
        backends: { app: { mode: 'tcp', servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'echo' },
    });
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
    assert.deepEqual(
      report.frontends.map((f) => f.name),
      ['web'],
    );
    assert.deepEqual(
      report.backends.map((b) => b.name),
      ['app'],
    );
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

describe('createTestGateway: what a test reads and sends', () => {
  const start = starter();

  it("gives a response's headers as a plain object: lower-cased names, set-cookie a list, other repeated fields joined", async () => {
    const t = await start({
      config: web(),
      origins: {
        app: (_req, res) => {
          res.setHeader('Set-Cookie', ['a=1', 'b=2']);
          res.setHeader('X-Twice', ['1', '2']);
          res.setHeader('X-Once', 'yes');
          res.end('ok');
        },
      },
    });
    const { headers } = await t.request('/');
    assert.deepEqual(headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(headers['x-twice'], '1, 2');
    assert.equal(headers['x-once'], 'yes');
    assert.equal(headers['x-none'], undefined);
    assert.ok(
      Object.keys(headers).every((name) => name === name.toLowerCase()),
      Object.keys(headers).join(),
    );
    const one = await start({ config: web(), origins: { app: (_req, res) => res.writeHead(200, { 'set-cookie': 'only=1' }).end() } });
    assert.deepEqual((await one.request('/')).headers['set-cookie'], ['only=1'], 'a list even for one line');
  });

  it("counts which origin answered: 'name' origins say their name, tally counts them", async () => {
    const t = await start({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: { app: { servers: ['a', 'b', 'c'].map((name) => ({ name, address: `origin:${name}` })) } },
      },
      origins: { a: 'name', b: 'name', c: 'name' },
    });
    const res = await t.request('/');
    assert.equal(res.body, res.headers['x-origin']);
    assert.deepEqual(await t.tally(6, (i) => `/n${i}`), { a: 2, b: 2, c: 2 });
  });

  it('writes raw bytes and reads every byte back until the gateway closes', async () => {
    const t = await start({ config: web(), origins: { app: 'name' } });
    const raw = await t.raw('GET /raw HTTP/1.0\r\nHost: a\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(raw.endsWith('\r\n\r\napp'), raw);
    assert.match(await t.raw('NOT HTTP\r\n\r\n'), /^HTTP\/1\.1 400 /);
  });

  it('speaks TLS to a TLS frontend: any certificate by default, or one checked against a CA for the name sent', async () => {
    const ca = new TestCa();
    const cert = ca.issue({ cn: 'shop.test', dns: ['shop.test'] });
    const t = await start({
      config: web({ tls: { certificates: [{ cert: 'shop.pem', key: 'shop.key' }] } }),
      origins: { app: 'echo' },
      files: { 'shop.pem': cert.cert, 'shop.key': cert.key },
    });
    assert.match(t.url('/x'), /^https:\/\/127\.0\.0\.1:\d+\/x$/);
    const plain = await t.request('/x');
    assert.equal(echoed(plain).headers['x-forwarded-proto'], 'https');
    const checked = await t.request({ path: '/x', servername: 'shop.test', ca: ca.cert });
    assert.equal(checked.certificate?.subject.CN, 'shop.test');
    await assert.rejects(t.request({ path: '/x', servername: 'other.test', ca: ca.cert, fresh: true }), /other\.test/);
    await assert.rejects(
      t.request({ path: '/x', servername: 'shop.test', ca: new TestCa('another CA').cert, fresh: true }),
      /self.signed|unable to verify|unknown ca/i,
    );
    const socket = await t.tcp(undefined, { servername: 'shop.test', ca: ca.cert });
    assert.equal(socket.authorized, true);
    socket.write('GET /over-tls HTTP/1.1\r\nHost: shop.test\r\nConnection: close\r\n\r\n');
    assert.match(await readUntil(socket, '"url":"/over-tls"'), /^HTTP\/1\.1 200 OK/);
  });

  it('presents a client certificate to a frontend that requires one', async () => {
    const ca = new TestCa();
    const server = ca.issue({ cn: 'shop.test', dns: ['shop.test'] });
    const alice = ca.issue({ cn: 'alice', client: true });
    const t = await start({
      config: web({ tls: { certificates: [{ cert: 'shop.pem', key: 'shop.key' }], client_ca: 'ca.pem' } }),
      origins: { app: 'echo' },
      files: { 'shop.pem': server.cert, 'shop.key': server.key, 'ca.pem': ca.cert },
    });
    assert.equal((await t.request({ path: '/', cert: alice.cert, key: alice.key, fresh: true })).status, 200);
    await assert.rejects(t.request({ path: '/', fresh: true }), /certificate required/);
  });

  it('serves TCP origins, counting their connections, and writes origin addresses into URLs', async () => {
    const t = await start({
      config: {
        frontends: {
          raw: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'echo' },
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            routes: [{ match: { path: '/where' }, plugins: [{ use: 'respond', options: { body: 'http://origin:app/x' } }] }],
          },
        },
        backends: { echo: { mode: 'tcp', servers: [{ name: 'e', address: 'origin:echo' }] }, app: { servers: [{ name: 'a', address: 'origin:app' }] } },
      },
      origins: { echo: { tcp: (s) => s.pipe(s) }, app: 'name' },
    });
    for (const text of ['one', 'two']) {
      const socket = await t.tcp('raw');
      socket.write(text);
      assert.equal(await readUntil(socket, text), text);
      socket.destroy();
    }
    assert.equal(t.origins.echo!.connections, 2);
    assert.equal((await t.request({ path: '/where', frontend: 'web' })).body, `http://${t.origins.app!.address}/x`);
  });

  it('reloads: a new config serves as generation 2; a refused one leaves it serving, saying why', async () => {
    const t = await start({ config: web(), origins: { app: 'name' } });
    assert.equal(t.generation, 1);
    const respond = web({ plugins: [{ use: 'respond', options: { body: 'reloaded' } }] });
    const next = await t.reload({ config: respond });
    assert.equal(next.ok, true);
    assert.equal(t.generation, 2);
    if (next.ok) await next.retired();
    assert.equal((await t.request('/')).body, 'reloaded');
    const refused = await t.reload({ config: web({ plugins: [{ use: 'respond', options: { status: 99 } }] }) });
    assert.equal(refused.ok, false);
    assert.deepEqual(refused.ok ? [] : refused.problems.map((p) => [p.file, p.path]), [['tapgate.yaml', 'frontends.web.plugins[0].options.status']]);
    assert.equal(t.generation, 2);
    assert.equal((await t.request('/')).body, 'reloaded');
  });

  it('explains a request: its route and the plugins on each hook', async () => {
    const t = await start({
      config: web({ routes: [{ name: 'fixed', match: { path: '/fixed' }, plugins: [{ use: 'respond', options: { body: 'x' } }] }] }),
      origins: { app: 'name' },
    });
    const fixed = t.explain({ url: '/fixed/1' });
    assert.deepEqual([fixed.route, fixed.backend, fixed.chain.request], ['fixed', 'app', ['respond']]);
    assert.deepEqual(t.explain({ url: '/other' }).chain.request, []);
  });

  it("reads this process's metrics", async () => {
    const t = await start({ config: web(), origins: { app: 'name' } });
    await t.request('/');
    await t.request('/');
    const sessions = t.metrics().find((m) => m.name === 'frontend_sessions_total');
    assert.deepEqual(
      sessions?.values.map((v) => ('value' in v ? v.value : -1)),
      [2],
    );
  });

  it('a clock may start where the test says and move at each reading, or follow the real time', async () => {
    const stepping = await start({
      config: web({ plugins: ['clock'] }),
      plugins: { clock: clockPlugin },
      origins: { app: 'echo' },
      clock: { start: 1_000, step: 5 },
    });
    assert.deepEqual([Number((await stepping.request('/now')).body), Number((await stepping.request('/now')).body)], [1_000, 1_005]);
    const real = await start({ config: web({ plugins: ['clock'] }), plugins: { clock: clockPlugin }, origins: { app: 'echo' }, clock: 'real' });
    const before = Date.now();
    const seen = Number((await real.request('/now')).body);
    assert.ok(seen >= before && seen <= Date.now(), `${seen} is not the real time`);
    real.clock.advance(3_600_000);
    assert.ok(Number((await real.request('/now')).body) >= before + 3_600_000);
  });

  it('answers api.take as the test says: a shared store that never answers, or one that refuses', async () => {
    const taking = definePlugin({
      name: 'taking',
      version: '1.0.0',
      setup(api) {
        api.hooks.http.request.tapPromise(api.name, async () => ({ status: 200, body: JSON.stringify(await api.take('k', { limit: 1, window: 1000 })) }));
        return () => {};
      },
    });
    const refusing = { allowed: false, remaining: 0, retryAfter: 5, reset: 9 };
    const t = await start({ config: web({ plugins: ['taking'] }), plugins: { taking }, origins: { app: 'name' }, take: async () => refusing });
    assert.deepEqual(JSON.parse((await t.request('/')).body), refusing);
    const own = await start({ config: web({ plugins: ['taking'] }), plugins: { taking }, origins: { app: 'name' } });
    assert.equal(JSON.parse((await own.request('/')).body).allowed, true, "this process's own counters otherwise");
  });

  it('get() fetches any URL on a connection of its own; unusedPort() is a port that refuses', async () => {
    const t = await start({ config: web(), origins: { app: 'echo' } });
    const res = await get(`http://${t.origins.app!.address}/direct?x=1`, { 'x-test': 'yes' });
    assert.deepEqual([res.status, echoed(res).url, echoed(res).headers['x-test']], [200, '/direct?x=1', 'yes']);
    const port = await unusedPort();
    await assert.rejects(get(`http://127.0.0.1:${port}/`), /ECONNREFUSED/);
  });
});

describe('checkTestConfig', () => {
  /** Nothing is started: a server's address is only checked. */
  const checked = (extra: object = {}) => ({
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', ...extra } },
    backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
  });

  it('reports every problem with its key path, and its line when the config is YAML text', async () => {
    const ok = await checkTestConfig({ config: checked() });
    assert.deepEqual([ok.ok, ok.problems], [true, []]);
    const bad = await checkTestConfig({ config: 'frontends:\n  web:\n    bind: 127.0.0.1:0\n    default_backend: nope\n' });
    assert.equal(bad.ok, false);
    assert.deepEqual(
      bad.problems.map((p) => [p.path, p.line]),
      [['frontends.web.default_backend', 4]],
    );
    assert.match(bad.problems[0]!.text, /^tapgate\.yaml:4:\d+: error: frontends\.web\.default_backend: .*"nope"/);
  });

  it('checks plugins given as definitions or sources', async () => {
    const source = `import { definePlugin, z } from 'tapgate/sdk';\nexport default definePlugin({ name: 'strict', version: '1.0.0', options: z.strictObject({ n: z.number() }), setup() {} });\n`;
    const r = await checkTestConfig({ config: checked({ plugins: [{ use: './strict.ts', options: { n: 'one' } }] }), plugins: { './strict.ts': source } });
    assert.deepEqual(
      r.problems.map((p) => p.path),
      ['frontends.web.plugins[0].options.n'],
    );
    const strict = definePlugin({ name: 'strict', version: '1.0.0', options: z.strictObject({ n: z.number() }), setup() {} });
    const byDefinition = await checkTestConfig({ config: checked({ plugins: [{ use: 'strict', options: { m: 1 } }] }), plugins: { strict } });
    assert.deepEqual(
      byDefinition.problems.map((p) => p.path),
      ['frontends.web.plugins[0].options.n', 'frontends.web.plugins[0].options.m'],
    );
  });
});

describe('createTestMaster', () => {
  it('runs the CLI master with two workers on ports of their own, reloads it and stops it', async () => {
    const m = await createTestMaster({ config: { ...web(), stats: { bind: '127.0.0.1:0' } }, origins: { app: 'name' } });
    let port = 0;
    try {
      port = m.port();
      assert.notEqual(port, 0);
      const status = await m.status();
      assert.equal(status.workers.length, 2);
      assert.equal(new Set(status.workers.map((w) => w.pid)).size, 2);
      assert.equal((await m.request({ path: '/', fresh: true })).body, 'app');
      assert.equal((await get(`http://127.0.0.1:${m.statsPort}/stats.json`)).status, 200);
      const reloaded = await m.reload({ config: { ...web({ plugins: [{ use: 'respond', options: { body: 'two' } }] }), stats: { bind: '127.0.0.1:0' } } });
      assert.deepEqual([reloaded.ok, reloaded.generation], [true, 2]);
      assert.equal(m.port(), port, 'a port-0 bind keeps its port across reloads');
      assert.equal((await m.request({ path: '/', fresh: true })).body, 'two');
    } finally {
      await m.close();
    }
    await assert.rejects(get(`http://127.0.0.1:${port}/`), /ECONNREFUSED/);
  });

  it('runTapgate runs the CLI to its end', async () => {
    const version = await runTapgate(['--version']);
    assert.equal(version.code, 0);
    assert.match(version.stdout, /\d+\.\d+\.\d+/);
    const unknown = await runTapgate(['no-such-command']);
    assert.notEqual(unknown.code, 0);
  });
});

describe("testing a plugin's parts without a gateway", () => {
  it('TestServer, eligibleServers and pickFrom follow the kernel: usable primaries, else backups', () => {
    const [a, b, spare] = [new TestServer('a'), new TestServer('b', { weight: 0 }), new TestServer('spare', { backup: true })];
    assert.equal(a.id, 'b/a');
    assert.deepEqual(
      eligibleServers([a, b, spare]).map((s) => s.name),
      ['a'],
    );
    a.up = false;
    assert.deepEqual(
      eligibleServers([a, b, spare]).map((s) => s.name),
      ['spare'],
    );
    const first: Balancer = { pick: (_ctx, eligible) => eligible[0] };
    assert.equal(pickFrom(first, [a, b, spare], httpContext())?.name, 'spare');
    spare.state = 'maint';
    assert.equal(pickFrom(first, [a, b, spare], httpContext()), undefined);
  });

  it('httpContext and tcpContext are what taps, matchers and balancers receive', () => {
    const ctx = httpContext({
      method: 'POST',
      url: '/a/b?c=d',
      headers: { Host: 'Shop.Example:8080', cookie: 'x=1; y=2' },
      client: { address: '10.0.0.1', port: 5 },
    });
    assert.deepEqual(
      [ctx.kind, ctx.method, ctx.path, ctx.query.get('c'), ctx.host, ctx.cookies.y, ctx.header('HOST'), ctx.client.address],
      ['http', 'POST', '/a/b', 'd', 'shop.example', '2', 'Shop.Example:8080', '10.0.0.1'],
    );
    const tcp = tcpContext({ client: { address: '10.0.0.2', port: 6 } });
    assert.deepEqual([tcp.kind, tcp.client.address], ['tcp', '10.0.0.2']);
  });

  it('compileMatch compiles a route condition with the matchers given, or throws saying where', () => {
    const matchers = [
      defineMatcher({
        name: 'depth',
        description: 'path segments, at least',
        options: z.number().int().min(1),
        modes: ['http'],
        create: (min: number) => (ctx) => ctx.kind === 'http' && ctx.path.split('/').filter(Boolean).length >= min,
      }),
    ];
    const condition = compileMatch({ depth: 2 }, matchers);
    assert.equal(condition.test(httpContext({ url: '/a/b' })), true);
    assert.equal(condition.test(httpContext({ url: '/a' })), false);
    assert.throws(() => compileMatch({ depth: 'two' }, matchers), /match\.depth: .*expected a number/);
    assert.throws(() => compileMatch({ deep: 2 }, matchers), /match\.deep: unknown matcher "deep"/);
  });

  it('testMetrics records as api.metrics does; parsePrometheus reads /metrics strictly', () => {
    const metrics = testMetrics();
    metrics.counter('hits_total', 'Hits').inc({ route: 'a' });
    assert.deepEqual(metrics.snapshot().find((m) => m.name === 'hits_total')?.values, [{ labels: { route: 'a' }, value: 1 }]);
    const families = parsePrometheus('# TYPE x_total counter\nx_total{a="1"} 2\n');
    assert.deepEqual(families.get('x_total')?.samples, [{ name: 'x_total', labels: { a: '1' }, value: 2 }]);
    assert.throws(() => parsePrometheus('x_total{a="1"} 2'), /not terminated by a newline/);
  });

  it('seededRandom draws the same numbers for the same seed', () => {
    const [one, two, other] = [seededRandom(7), seededRandom(7), seededRandom(8)];
    const draws = (r: () => number) => Array.from({ length: 5 }, r);
    const first = draws(one);
    assert.deepEqual(draws(two), first);
    assert.notDeepEqual(draws(other), first);
    assert.ok(first.every((x) => x >= 0 && x < 1));
  });
});
