// Content switching through a real gateway: each matcher kind, their combinations,
// first-match order, and route-level plugin chains that run only on their route.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkTestConfig, createTestGateway, type TestGateway, type TestGatewayOptions } from 'tapgate/sdk/testing';

const names = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'fallback'] as const;

const backends = () => Object.fromEntries(names.map((n) => [n, { servers: [{ name: 's', address: `origin:${n}` }] }]));

/** A gateway serving `config`, an origin for each backend that answers its own name. */
const start = (config: Record<string, unknown>, more: Omit<TestGatewayOptions, 'config'> = {}) =>
  createTestGateway({ config, origins: Object.fromEntries(names.map((n) => [n, 'name'])), ...more });

/** Which origin answered a request (the origin's name is its body). */
async function who(gw: TestGateway, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<string> {
  const res = await gw.request({ path, headers, method, fresh: true });
  return res.status === 200 ? res.body : `${res.status}`;
}

describe('http routes: every matcher kind', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await start({
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'fallback',
          routes: [
            { name: 'exact-host', match: { host: 'api.example.com' }, backend: 'a' },
            { name: 'wild-host', match: { host: '*.apps.example.com' }, backend: 'b' },
            { name: 'exact-path', match: { path: { exact: '/health' } }, backend: 'c' },
            { name: 'regex-path', match: { path: { regex: '^/v[0-9]+/' } }, backend: 'd' },
            { name: 'prefix-and-method', match: { path: '/upload', method: ['POST', 'PUT'] }, backend: 'e' },
            { name: 'query', match: { query: { beta: '1' } }, backend: 'f' },
            { name: 'header-regex', match: { header: { 'x-env': { regex: '^can' } } }, backend: 'g' },
            { name: 'cookie', match: { cookie: { team: ['red', 'blue'] } }, backend: 'h' },
            { name: 'header-present', match: { header: { 'x-debug': true } }, backend: 'a' },
            { name: 'src', match: { src: ['10.0.0.0/8'] }, backend: 'b' },
          ],
        },
      },
      backends: backends(),
    });
  });
  after(() => gw.close());

  it('host: exact name, any case, with a port', async () => {
    assert.equal(await who(gw, '/', { host: 'api.example.com' }), 'a');
    assert.equal(await who(gw, '/', { host: 'API.Example.com:8080' }), 'a');
    assert.equal(await who(gw, '/', { host: 'www.example.com' }), 'fallback');
  });
  it('host: a wildcard matches names below it, not the name itself', async () => {
    assert.equal(await who(gw, '/', { host: 'x.apps.example.com' }), 'b');
    assert.equal(await who(gw, '/', { host: 'y.x.apps.example.com' }), 'b');
    assert.equal(await who(gw, '/', { host: 'apps.example.com' }), 'fallback');
  });
  it('path: exact, regex, and prefix with method', async () => {
    assert.equal(await who(gw, '/health'), 'c');
    assert.equal(await who(gw, '/health/more'), 'fallback');
    assert.equal(await who(gw, '/v2/users'), 'd');
    assert.equal(await who(gw, '/vx/users'), 'fallback');
    assert.equal(await who(gw, '/upload/1', {}, 'PUT'), 'e');
    assert.equal(await who(gw, '/upload/1', {}, 'GET'), 'fallback');
  });
  it('query, header regex, header present, cookie from a list', async () => {
    assert.equal(await who(gw, '/x?alpha=2&beta=1'), 'f');
    assert.equal(await who(gw, '/x?beta=2'), 'fallback');
    assert.equal(await who(gw, '/x', { 'x-env': 'canary' }), 'g');
    assert.equal(await who(gw, '/x', { 'x-env': 'prod' }), 'fallback');
    assert.equal(await who(gw, '/x', { cookie: 'a=1; team=blue' }), 'h');
    assert.equal(await who(gw, '/x', { cookie: 'team=green' }), 'fallback');
    assert.equal(await who(gw, '/x', { 'x-debug': '' }), 'a');
  });
  it('src: a loopback client is not in 10.0.0.0/8', async () => {
    assert.equal(await who(gw, '/nothing'), 'fallback');
  });
  it('the first route that matches wins, in config order', async () => {
    // Both exact-host (a) and exact-path (c) hold: the earlier one is taken.
    assert.equal(await who(gw, '/health', { host: 'api.example.com' }), 'a');
  });
});

describe('http routes: combinations and addresses', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await start({
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'fallback',
          routes: [
            { name: 'all', match: { all: [{ host: 'shop.test' }, { path: '/cart' }] }, backend: 'a' },
            { name: 'any', match: { any: [{ header: { 'x-a': '1' } }, { query: { a: '1' } }] }, backend: 'b' },
            { name: 'not', match: { path: '/admin', not: { src: '127.0.0.0/8' } }, backend: 'c' },
            { name: 'loopback', match: { src: ['127.0.0.0/8', '::1'], path: '/admin' }, backend: 'd' },
            { name: 'port', match: { dst_port: '1-65535', path: '/port' }, backend: 'e' },
            { name: 'nested', match: { any: [{ all: [{ host: 'n.test' }, { not: { method: 'GET' } }] }, { cookie: { n: true } }] }, backend: 'f' },
          ],
        },
      },
      backends: backends(),
    });
  });
  after(() => gw.close());

  it('all: every condition must hold', async () => {
    assert.equal(await who(gw, '/cart/1', { host: 'shop.test' }), 'a');
    assert.equal(await who(gw, '/other', { host: 'shop.test' }), 'fallback');
  });
  it('any: one condition is enough', async () => {
    assert.equal(await who(gw, '/', { 'x-a': '1' }), 'b');
    assert.equal(await who(gw, '/?a=1'), 'b');
  });
  it('not: negates, so a loopback client skips the route for others', async () => {
    assert.equal(await who(gw, '/admin'), 'd');
  });
  it('dst_port ranges', async () => {
    assert.equal(await who(gw, '/port'), 'e');
  });
  it('nested any/all/not', async () => {
    assert.equal(await who(gw, '/', { host: 'n.test' }, 'POST'), 'f');
    assert.equal(await who(gw, '/', { host: 'n.test' }, 'GET'), 'fallback');
    assert.equal(await who(gw, '/', { cookie: 'n=0' }), 'f');
  });
});

describe('route-level plugin chains', () => {
  let gw: TestGateway;
  const tagger = (tag: string) => `
    import { definePlugin, z } from 'tapgate/sdk';
    export default definePlugin({
      name: 'tag-${tag}',
      version: '1.0.0',
      options: z.object({ deny: z.boolean().default(false) }),
      setup(api, options) {
        api.hooks.http.request.tap('tag-${tag}', (ctx) => {
          if (options.deny) return { status: 401, body: 'no ${tag}' };
          ctx.state.tags = [...((ctx.state.tags as string[]) ?? []), '${tag}'];
        });
        api.hooks.http.upstreamRequest.tap('tag-${tag}', (ctx) => {
          ctx.upstream.headers['x-tags'] = (ctx.state.tags as string[]).join(',');
        });
      },
    });`;
  before(async () => {
    gw = await start(
      {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'fallback',
            plugins: ['./frontend.ts'],
            routes: [
              { name: 'api', match: { path: '/api' }, backend: 'a', plugins: ['./api.ts'] },
              { name: 'private', match: { path: '/private' }, backend: 'b', plugins: [{ use: './private.ts', options: { deny: true } }] },
              { name: 'plain', match: { path: '/plain' }, backend: 'c' },
            ],
          },
        },
        backends: backends(),
      },
      { plugins: { './frontend.ts': tagger('frontend'), './api.ts': tagger('api'), './private.ts': tagger('private') } },
    );
  });
  after(() => gw.close());

  it("a route's plugins run after the frontend's, only on that route", async () => {
    const seen = () => gw.origins.a!.requests.at(-1)!.headers['x-tags'];
    assert.equal(await who(gw, '/api/x'), 'a');
    assert.equal(seen(), 'frontend,api');
    assert.equal(await who(gw, '/plain'), 'c');
    assert.equal(gw.origins.c!.requests.at(-1)!.headers['x-tags'], 'frontend');
    assert.equal(await who(gw, '/else'), 'fallback');
    assert.equal(gw.origins.fallback!.requests.at(-1)!.headers['x-tags'], 'frontend');
  });
  it("a route's plugin may answer for it alone", async () => {
    const before = gw.origins.b!.requests.length;
    const res = await fetch(gw.url('/private/1'));
    assert.equal(res.status, 401);
    assert.equal(await res.text(), 'no private');
    assert.equal(gw.origins.b!.requests.length, before, 'the backend never saw it');
    assert.equal(await who(gw, '/api'), 'a');
  });
});

describe('route checks', () => {
  const check = async (yaml: string) => (await checkTestConfig({ config: yaml })).problems.map((p) => p.text);

  it('unknown matchers, bad values and modes are reported at their key paths, all at once', async () => {
    const problems = await check(`
frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    routes:
      - match: { hots: example.com }
        backend: app
      - match: { path: api }
        backend: app
      - match: { header: { x-a: { regex: "(" } } }
        backend: app
      - match: { protocol: ssh }
        backend: nowhere
      - name: dup
        match: { src: 10.0.0.0/33 }
      - name: dup
        match: { any: [] }
backends:
  app: { servers: [{ name: s, address: 127.0.0.1:1 }] }
`);
    const expected = [
      /routes\[0\]\.match\.hots: unknown matcher "hots" \(did you mean "host"\?\)/,
      /routes\[1\]\.match\.path: matcher "path": expected a path starting with "\/"/,
      /routes\[2\]\.match\.header\.x-a\.regex: matcher "header": expected a valid regular expression/,
      /routes\[3\]\.match\.protocol: matcher "protocol" works in tcp mode, not in an http frontend/,
      /routes\[3\]\.backend: backend "nowhere" does not exist/,
      /routes\[4\]\.match\.src: matcher "src": expected an address or CIDR block/,
      /routes\[5\]\.name: route name "dup" is already used by routes\[4\]/,
      /routes\[5\]\.match\.any: expected a list of conditions under "any"/,
    ];
    for (const e of expected)
      assert.ok(
        problems.some((p) => e.test(p)),
        `expected ${e} in:\n${problems.join('\n')}`,
      );
    assert.ok(
      problems.every((p) => /:\d+:\d+: error:/.test(p)),
      `every problem has a line: \n${problems.join('\n')}`,
    );
  });

  it('a tcp route hands off to an existing frontend and not also to a backend', async () => {
    const problems = await check(`
frontends:
  edge:
    bind: 127.0.0.1:0
    mode: tcp
    routes:
      - match: { protocol: http }
        frontend: webb
      - match: { protocol: tls }
        frontend: web
        backend: app
  web:
    default_backend: app
  lonely:
    default_backend: app
backends:
  app: { servers: [{ name: s, address: 127.0.0.1:1 }] }
`);
    assert.ok(
      problems.some((p) => /routes\[0\]\.frontend: frontend "webb" does not exist \(did you mean "web"\?\)/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /routes\[1\]\.frontend: a route hands its connection to a frontend or sends it to a backend, not both/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /frontends\.lonely: frontend "lonely" has no "bind" and no tcp route hands connections to it/.test(p)),
      problems.join('\n'),
    );
    assert.ok(
      problems.some((p) => /backend "app" is used by both http and tcp frontends/.test(p)),
      problems.join('\n'),
    );
  });
});

describe('matchers from plugins, and tcp routes on addresses', () => {
  it('a plugin brings a matcher kind that configs use like a built-in one, checked by its schema', async () => {
    const plugin = `
      import { defineMatcher, definePlugin, z } from 'tapgate/sdk';
      export default definePlugin({
        name: 'path-depth',
        version: '1.0.0',
        extensions: [
          defineMatcher({
            name: 'path_depth',
            description: 'number of path segments, at least',
            options: z.number().int().min(1),
            modes: ['http'],
            create: (min) => (ctx) => ctx.kind === 'http' && ctx.path.split('/').filter(Boolean).length >= min,
          }),
        ],
      });`;
    const gw = await start(
      {
        plugins: ['./path-depth.ts'],
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'fallback', routes: [{ match: { path_depth: 3 }, backend: 'a' }] } },
        backends: backends(),
      },
      { plugins: { './path-depth.ts': plugin } },
    );
    try {
      assert.equal(await who(gw, '/x/y/z'), 'a');
      assert.equal(await who(gw, '/x/y'), 'fallback');
    } finally {
      await gw.close();
    }
    const r = await checkTestConfig({
      config: `plugins: [./path-depth.ts]\nfrontends:\n  web:\n    bind: 127.0.0.1:0\n    default_backend: app\n    routes:\n      - match: { path_depth: zero }\n        backend: app\nbackends:\n  app: { servers: [{ name: s, address: 127.0.0.1:1 }] }\n`,
      plugins: { './path-depth.ts': plugin },
    });
    assert.deepEqual(
      r.problems.map((p) => `${p.path}: ${p.message}`),
      ['frontends.web.routes[0].match.path_depth: matcher "path_depth": expected a number, found "zero"'],
    );
  });

  it('a tcp frontend routing only on addresses and ports does not wait for bytes', async () => {
    // Servers that speak first: the client says nothing and must hear them at once.
    const gw = await createTestGateway({
      config: {
        frontends: {
          edge: {
            bind: ['127.0.0.1:0', '127.0.0.1:0'],
            mode: 'tcp',
            inspect_delay: '30s',
            default_backend: 'one',
            routes: [{ match: { src: '127.0.0.0/8', not: { dst_port: 1 } }, backend: 'two' }],
          },
        },
        backends: {
          one: { servers: [{ name: 's', address: 'origin:one' }] },
          two: { servers: [{ name: 's', address: 'origin:two' }] },
        },
      },
      origins: { one: { tcp: (c) => c.end('one') }, two: { tcp: (c) => c.end('two') } },
    });
    try {
      const socket = await gw.tcp();
      let got = '';
      for await (const chunk of socket) got += chunk;
      assert.equal(got, 'two', 'answered without waiting for the 30 s inspect delay');
    } finally {
      await gw.close();
    }
  });
});
