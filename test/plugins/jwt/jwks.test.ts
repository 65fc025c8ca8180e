// A remote JWKS served on 127.0.0.1:0: rotation without reload (a new kid is fetched
// for; a key removed from the document stops verifying), unknown kids rate-limited to
// one fetch per cooldown, and routing on claims verified before routing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { checkTestConfig, createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import { bearer, get, makeKey, sign, type TestKey } from './tokens.ts';

describe('jwt with a remote JWKS', () => {
  let k1: TestKey, k2: TestKey, ec: TestKey;
  let jwks: { keys: object[] } = { keys: [] };
  let fetches = 0;
  let server: http.Server;
  let gw: TestGateway;
  /** The plugins' clock: tests move it past the cooldown. */
  const clock = () => gw.clock.now();

  before(async () => {
    [k1, k2, ec] = await Promise.all([makeKey('RS256', 'k1'), makeKey('RS256', 'k2'), makeKey('ES256', 'k3')]);
    jwks = { keys: [k1.jwk, ec.jwk] };
    server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(JSON.stringify(jwks));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/.well-known/jwks.json`;
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            plugins: [{ use: 'jwt', options: { jwks_url: url, jwks_cache: { cooldown: '30s', max_age: '10m' } } }],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'name' },
    });
  });

  after(async () => {
    await gw?.close();
    server?.close();
  });

  it('accepts tokens from the published keys (RS256, ES256), fetching the document once', async () => {
    assert.equal((await get(gw.url('/'), bearer(await sign(k1)))).status, 200);
    assert.equal((await get(gw.url('/'), bearer(await sign(ec)))).status, 200);
    assert.equal(fetches, 1);
  });

  it('picks up a new key after an unknown kid, and retires the one removed, without a reload', async () => {
    const generation = gw.generation;
    jwks = { keys: [k2.jwk] };
    // Within the cooldown of the first fetch, an unknown kid does not fetch again.
    assert.equal((await get(gw.url('/'), bearer(await sign(k2)))).status, 401);
    assert.equal(fetches, 1);
    gw.clock.advance(31_000);
    const r = await get(gw.url('/'), bearer(await sign(k2)));
    assert.equal(r.status, 200, r.body);
    assert.equal(fetches, 2);
    const old = await get(gw.url('/'), bearer(await sign(k1)));
    assert.equal(old.status, 401);
    assert.match(String(old.headers['www-authenticate']), /error_description="unknown key"/);
    assert.equal(gw.generation, generation);
  });

  it('remembers a verified token, yet refuses it once expired or once its key leaves the document', async () => {
    jwks = { keys: [k1.jwk, k2.jwk] };
    gw.clock.advance(31_000);
    const token = await sign(k2, { exp: Math.floor(clock() / 1000) + 60 });
    assert.equal((await get(gw.url('/'), bearer(token))).status, 200);
    assert.equal((await get(gw.url('/'), bearer(token))).status, 200, 'again, from memory');
    gw.clock.advance(120_000); // past exp and the 30 s skew
    const expired = await get(gw.url('/'), bearer(token));
    assert.equal(expired.status, 401);
    assert.match(String(expired.headers['www-authenticate']), /error_description="token expired"/);

    const fresh = await sign(k2, { exp: Math.floor(clock() / 1000) + 3600 });
    assert.equal((await get(gw.url('/'), bearer(fresh))).status, 200);
    // k2 leaves the document; once the gateway has fetched it again, the remembered token no longer passes.
    jwks = { keys: [k1.jwk] };
    gw.clock.advance(11 * 60_000); // past max_age: the next use of the keys fetches in the background
    const before = fetches;
    await get(gw.url('/'), bearer(fresh));
    for (let i = 0; fetches === before; i++) {
      assert.ok(i < 100, 'the document is fetched again within 5 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    await new Promise((r) => setImmediate(r));
    const gone = await get(gw.url('/'), bearer(fresh));
    assert.equal(gone.status, 401);
    assert.match(String(gone.headers['www-authenticate']), /error_description="unknown key"/);
    // Back to the document the next tests expect: k2 only, fetched again for its unknown kid.
    jwks = { keys: [k2.jwk] };
    gw.clock.advance(31_000);
    assert.equal((await get(gw.url('/'), bearer(await sign(k2, { exp: Math.floor(clock() / 1000) + 600 })))).status, 200);
  });

  it('fetches at most once per cooldown however many unknown kids arrive', async () => {
    gw.clock.advance(31_000);
    const before = fetches;
    const stranger = await makeKey('RS256', 'x');
    const answers = await Promise.all(
      Array.from({ length: 20 }, async (_, i) => (await get(gw.url('/'), bearer(await sign(stranger, {}, { kid: `random-${i}` })))).status),
    );
    assert.deepEqual(new Set(answers), new Set([401]));
    assert.equal(fetches - before, 1);
  });

  it('keeps the keys it has when the JWKS server fails', async () => {
    gw.clock.advance(11 * 60_000); // older than max_age: a background refresh, which fails
    server.removeAllListeners('request');
    server.on('request', (_req, res) => {
      fetches++;
      res.writeHead(500).end();
    });
    const fresh = () => sign(k2, { iat: Math.floor(clock() / 1000), exp: Math.floor(clock() / 1000) + 600 });
    const before = fetches;
    assert.equal((await get(gw.url('/'), bearer(await fresh()))).status, 200);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(fetches, before + 1);
    assert.equal((await get(gw.url('/'), bearer(await fresh()))).status, 200);
  });
});

describe('jwt with a remote JWKS it must not take', () => {
  let key: TestKey;
  const served: string[] = [];
  let server: http.Server;
  let gw: TestGateway;

  before(async () => {
    key = await makeKey('ES256', 'k');
    const doc = { keys: [key.jwk] };
    server = http.createServer((req, res) => {
      served.push(req.url!);
      if (req.url === '/big.json')
        return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ...doc, padding: 'x'.repeat(600 * 1024) }));
      if (req.url === '/moved.json') return void res.writeHead(302, { location: '/elsewhere.json' }).end();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const guarded = (path: string, file: string) => ({ name: file, match: { path }, plugins: [{ use: 'jwt', options: { jwks_url: `${base}/${file}` } }] });
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            routes: [guarded('/big', 'big.json'), guarded('/moved', 'moved.json'), guarded('/good', 'good.json')],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'name' },
    });
  });

  after(async () => {
    await gw?.close();
    server?.close();
  });

  it('a document over 512 KiB, or a redirect (never followed), gives no keys (503 until one does); the document itself does', async () => {
    const token = bearer(await sign(key));
    assert.equal((await get(gw.url('/big'), token)).status, 503);
    assert.equal((await get(gw.url('/moved'), token)).status, 503);
    assert.ok(served.includes('/big.json') && served.includes('/moved.json'), served.join(' '));
    assert.equal(served.includes('/elsewhere.json'), false, 'the redirect was not followed');
    assert.equal((await get(gw.url('/good'), token)).status, 200);
  });
});

describe('routing on claims', () => {
  let key: TestKey;
  let gw: TestGateway;
  const origins = () => Object.values(gw.origins);

  before(async () => {
    key = await makeKey('EdDSA', 'ed');
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'www',
            plugins: [{ use: 'jwt', options: { keys: [{ jwk: key.jwk }], forward: { role: 'x-role' } } }],
            routes: [
              { name: 'admin', match: { claim: { role: 'admin' } }, backend: 'admin' },
              { name: 'reader', match: { path: '/docs', claim: { scope: { contains: 'read' } } }, backend: 'reader' },
              { name: 'groups', match: { claim: { 'realm_access.roles': 'ops' } }, backend: 'admin' },
            ],
          },
          open: {
            bind: '127.0.0.1:0',
            default_backend: 'public',
            routes: [{ name: 'guarded', match: { path: '/private' }, plugins: [{ use: 'jwt', options: { keys: [{ jwk: key.jwk }] } }] }],
          },
        },
        backends: Object.fromEntries(['www', 'admin', 'reader', 'public'].map((name) => [name, { servers: [{ name: 's1', address: `origin:${name}` }] }])),
      },
      origins: { www: 'name', admin: 'name', reader: 'name', public: 'name' },
    });
  });

  after(() => gw?.close());

  it('sends each request to the route its claims match', async () => {
    const to = async (claims: Record<string, unknown>, path = '/') => (await get(gw.url(path), bearer(await sign(key, claims)))).headers['x-origin'];
    assert.equal(await to({ role: 'admin' }), 'admin');
    assert.equal(await to({ role: ['user', 'admin'] }), 'admin');
    assert.equal(await to({ role: 'user', scope: 'read write' }, '/docs'), 'reader');
    assert.equal(await to({ role: 'user', scope: 'write' }, '/docs'), 'www');
    assert.equal(await to({ realm_access: { roles: ['ops'] } }), 'admin');
    assert.equal(await to({ role: 'user' }), 'www');
  });

  it('verifies before routing on a frontend: no token, no route', async () => {
    const seen = origins().reduce((n, o) => n + o.requests.length, 0);
    const r = await get(gw.url('/'), { 'x-role': 'admin' });
    assert.equal(r.status, 401);
    const forged = await get(gw.url('/'), bearer(await sign(await makeKey('EdDSA', 'ed'), { role: 'admin' })));
    assert.equal(forged.status, 401);
    assert.equal(
      origins().reduce((n, o) => n + o.requests.length, 0),
      seen,
    );
  });

  it('on a route, guards that route only', async () => {
    assert.equal((await get(gw.url('/', 'open'))).status, 200);
    assert.equal((await get(gw.url('/private', 'open'))).status, 401);
    assert.equal((await get(gw.url('/private', 'open'), bearer(await sign(key)))).status, 200);
  });

  it('refuses a claim rule that is not one in the config check', async () => {
    await assert.rejects(
      createTestGateway({
        config: {
          frontends: { web: { bind: '127.0.0.1:0', default_backend: 'www', routes: [{ match: { claim: { scope: { contain: 'read' } } } }] } },
          backends: { www: { servers: [{ name: 's1', address: gw.origins.www!.address }] } },
        },
      }),
      /routes\[0\]\.match\.claim/,
    );
  });
});

describe('jwt with a JWKS that is down when the gateway starts', () => {
  let key: TestKey;
  let port = 0;
  let server: http.Server | undefined;
  let gw: TestGateway;

  before(async () => {
    key = await makeKey('ES256', 'k');
    // A port nobody listens on yet: the JWKS comes up there later.
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise((r) => probe.close(r));
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            plugins: [{ use: 'jwt', options: { jwks_url: `http://127.0.0.1:${port}/jwks.json`, jwks_cache: { cooldown: '30s' } } }],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'name' },
    });
  });

  after(async () => {
    await gw?.close();
    server?.close();
  });

  it('`tapgate check` warns that the JWKS does not answer, and the configuration stays valid', async () => {
    const config = {
      frontends: {
        web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'jwt', options: { jwks_url: `http://127.0.0.1:${port}/jwks.json` } }] },
      },
      backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:1' }] } },
    };
    const checked = await checkTestConfig({ config, probe: true });
    assert.equal(checked.ok, true);
    const down = checked.problems.find((p) => p.path === 'frontends.web.plugins[0].options.jwks_url');
    assert.equal(down?.severity, 'warning');
    assert.match(down.message, /does not answer now .*503/);
    assert.ok(down.line, 'located on its line');
    const unprobed = await checkTestConfig({ config });
    assert.deepEqual(unprobed.problems, [], 'without probing, nothing is tried');
  });

  it('answers 503 with Retry-After while no keys are known, not 401', async () => {
    const r = await get(gw.url('/'), bearer(await sign(key)));
    assert.equal(r.status, 503, r.body);
    assert.match(String(r.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal(r.headers['www-authenticate'], undefined);
    assert.equal((await get(gw.url('/'))).status, 401, 'no token at all is still the client’s to fix');
  });

  it('tries again within seconds, not after the cooldown, and verifies once the JWKS answers', async () => {
    server = http.createServer((_req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [key.jwk] })));
    await new Promise<void>((r) => server!.listen(port, '127.0.0.1', r));
    // The plugins' clock stands still: only the short back-off can bring the keys.
    const started = Date.now();
    let status = 0;
    while (status !== 200 && Date.now() - started < 10_000) {
      status = (await get(gw.url('/'), bearer(await sign(key)))).status;
      if (status !== 200) await new Promise((r) => setTimeout(r, 200));
    }
    assert.equal(status, 200, 'verified within 10 s of the JWKS coming up');
  });
});
