import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkProblems, optionProblems, routedGateways } from './fixture.ts';

const rewrite = (options: object) => ({ use: 'rewrite', options });

describe('rewrite', () => {
  const start = routedGateways();

  it('strip_prefix removes the prefix from the upstream path and keeps the query, on its route only', async () => {
    const g = await start({
      backends: ['api', 'web'],
      routes: [
        { match: { path: '/api' }, backend: 'api', plugins: [rewrite({ strip_prefix: '/api' })] },
        { match: { path: '/web' }, backend: 'web' },
      ],
    });
    const seen = async (path: string) => {
      const { echo } = await g.request(path);
      return `${echo!.origin} ${echo!.url}`;
    };
    assert.equal(await seen('/api/x?y=1'), 'api /x?y=1');
    assert.equal(await seen('/api'), 'api /');
    assert.equal(await seen('/api?q=2'), 'api /?q=2');
    assert.equal(await seen('/api/'), 'api /');
    assert.equal(await seen('/api/a/api/b'), 'api /a/api/b', 'only the leading prefix');
    assert.equal(await seen('/apix/y'), 'api /apix/y', 'the prefix ends at a segment boundary');
    assert.equal(await seen('/web/api/x?y=1'), 'web /web/api/x?y=1', 'another route is untouched');
    assert.equal(await seen('/api-docs'), 'api /api-docs');
    assert.equal(await seen('/other/api/x'), 'fallback /other/api/x', 'the default is untouched');
  });

  it('strip_prefix is not applied when the path does not start with the prefix', async () => {
    const g = await start({ plugins: [rewrite({ strip_prefix: '/api/' })] });
    assert.equal((await g.request('/v2/api/x?a')).echo!.url, '/v2/api/x?a');
    assert.equal((await g.request('/api/x?a')).echo!.url, '/x?a', 'a trailing slash in the option is the same prefix');
  });

  it('add_prefix puts a prefix in front of the upstream path', async () => {
    const g = await start({ backends: ['api'], routes: [{ match: { host: 'api.example.com' }, backend: 'api', plugins: [rewrite({ add_prefix: '/v1/' })] }] });
    const host = { headers: { host: 'api.example.com' } };
    assert.equal((await g.request('/users?page=2', host)).echo!.url, '/v1/users?page=2');
    assert.equal((await g.request('/', host)).echo!.url, '/v1/');
    assert.equal((await g.request('/users?page=2')).echo!.url, '/users?page=2', 'another host takes the default, untouched');
  });

  it('path replaces where a regex matches, with groups, and leaves the query alone', async () => {
    const g = await start({
      backends: ['api'],
      routes: [{ match: { path: '/users' }, backend: 'api', plugins: [rewrite({ path: { regex: '^/users/(\\d+)$', replace: '/u/$1/profile' } })] }],
    });
    assert.equal((await g.request('/users/42?full=1')).echo!.url, '/u/42/profile?full=1');
    assert.equal((await g.request('/users/me')).echo!.url, '/users/me', 'no match, no change');
  });

  it('path steps run in order: strip_prefix, then path, then add_prefix', async () => {
    const g = await start({
      backends: ['api'],
      routes: [
        {
          match: { path: '/api' },
          backend: 'api',
          plugins: [rewrite({ add_prefix: '/internal', path: { regex: '^/old/', replace: '/new/' }, strip_prefix: '/api' })],
        },
      ],
    });
    assert.equal((await g.request('/api/old/x?q=1')).echo!.url, '/internal/new/x?q=1');
  });

  it('a path replacement that loses the leading slash gets it back', async () => {
    const g = await start({ plugins: [rewrite({ path: { regex: '^/', replace: '' } })] });
    assert.equal((await g.request('/a/b')).echo!.url, '/a/b');
  });

  it('request_headers: remove, then set, then add, on the request sent to the server only', async () => {
    const g = await start({
      backends: ['api'],
      routes: [
        {
          match: { path: '/api' },
          backend: 'api',
          plugins: [
            rewrite({
              request_headers: { remove: ['X-Debug', 'x-forwarded-for'], set: { 'X-Env': 'prod', host: 'internal.example' }, add: { 'x-tag': 'gw', 'x-n': 7 } },
            }),
          ],
        },
      ],
    });
    const headers = { 'x-debug': '1', 'x-env': 'dev', 'x-tag': 'client' };
    const { echo } = await g.request('/api/x', { headers });
    assert.equal(echo!.headers['x-debug'], undefined);
    assert.equal(echo!.headers['x-forwarded-for'], undefined, 'the headers the gateway adds can be removed too');
    assert.equal(echo!.headers['x-env'], 'prod');
    assert.equal(echo!.headers.host, 'internal.example');
    assert.equal(echo!.headers['x-tag'], 'client, gw');
    assert.equal(echo!.headers['x-n'], '7');
    const other = (await g.request('/else', { headers })).echo!;
    assert.deepEqual([other.headers['x-debug'], other.headers['x-env'], other.headers['x-tag'], other.headers['x-n']], ['1', 'dev', 'client', undefined]);
    assert.ok(other.headers['x-forwarded-for']);
  });

  it("response_headers: remove, set and add on the server's response, on its route only", async () => {
    const g = await start({
      backends: ['api'],
      originHeaders: { server: 'origin/1.0', 'x-powered-by': 'php', 'set-cookie': 'a=1', vary: 'accept' },
      routes: [
        {
          match: { path: '/api' },
          backend: 'api',
          plugins: [
            rewrite({
              response_headers: {
                remove: ['Server', 'x-powered-by'],
                set: { 'strict-transport-security': 'max-age=63072000' },
                add: { 'set-cookie': 'b=2', Vary: 'origin' },
              },
            }),
          ],
        },
      ],
    });
    const api = await g.request('/api/x');
    assert.equal(api.status, 200);
    assert.equal(api.headers.server, undefined);
    assert.equal(api.headers['x-powered-by'], undefined);
    assert.equal(api.headers['strict-transport-security'], 'max-age=63072000');
    assert.deepEqual(api.headers['set-cookie'], ['a=1', 'b=2'], 'Set-Cookie gets a line of its own');
    assert.equal(api.headers.vary, 'accept, origin');
    assert.equal(api.echo!.origin, 'api', 'the body streams through');
    const other = await g.request('/else');
    assert.equal(other.headers.server, 'origin/1.0');
    assert.equal(other.headers['strict-transport-security'], undefined);
    assert.deepEqual(other.headers['set-cookie'], ['a=1']);
  });

  it("the frontend's rewrite runs first, then the route's, which sees its result", async () => {
    const g = await start({
      backends: ['api'],
      plugins: [rewrite({ strip_prefix: '/v1', request_headers: { set: { 'x-who': 'frontend' } } })],
      routes: [{ match: { path: '/v1/api' }, backend: 'api', plugins: [rewrite({ strip_prefix: '/api', request_headers: { set: { 'x-who': 'route' } } })] }],
    });
    const api = (await g.request('/v1/api/x')).echo!;
    assert.deepEqual([api.origin, api.url, api.headers['x-who']], ['api', '/x', 'route']);
    const other = (await g.request('/v1/web/x')).echo!;
    assert.deepEqual([other.origin, other.url, other.headers['x-who']], ['fallback', '/web/x', 'frontend']);
  });

  it('taps upstreamResponse only when response_headers are given, so other responses are not held', async () => {
    const g = await start({
      backends: ['a', 'b'],
      routes: [
        { match: { path: '/a' }, backend: 'a', plugins: [rewrite({ strip_prefix: '/a', request_headers: { set: { 'x-a': '1' } } })] },
        { match: { path: '/b' }, backend: 'b', plugins: [rewrite({ response_headers: { set: { 'x-b': '1' } } })] },
      ],
    });
    const a = g.gw.explain({ url: '/a' });
    const b = g.gw.explain({ url: '/b' });
    assert.deepEqual([a.route, b.route], ['#0', '#1']);
    assert.deepEqual(a.chain.upstreamResponse, []);
    assert.deepEqual(a.chain.upstreamRequest, ['rewrite']);
    assert.deepEqual(b.chain.upstreamResponse, ['rewrite']);
    assert.deepEqual(b.chain.upstreamRequest, []);
  });

  it('check reports bad options with their key paths', async () => {
    const problems = await optionProblems('rewrite', {
      strip_prefix: 'api',
      add_prefix: '/',
      path: { regex: '(', replace: '/' },
      request_headers: { set: { 'x bad': 'v', 'content-length': '0' }, add: { 'x-ok': 'a\r\nx-injected: 1' }, remove: ['transfer-encoding'] },
      response_headers: { sett: {} },
    });
    const base = 'frontends.web.routes[0].plugins[0].options';
    const byPath = new Map(problems);
    assert.match(byPath.get(`${base}.strip_prefix`)!, /plugin "rewrite" options: expected a path prefix starting with "\/".*, found "api"/);
    assert.match(byPath.get(`${base}.add_prefix`)!, /expected a prefix longer than "\/"/);
    assert.match(byPath.get(`${base}.path.regex`)!, /expected a valid regular expression, found "\("/);
    assert.match(byPath.get(`${base}.request_headers.set["x bad"]`)!, /expected a header name/);
    assert.match(byPath.get(`${base}.request_headers.set.content-length`)!, /the gateway frames messages with/);
    assert.match(byPath.get(`${base}.request_headers.add.x-ok`)!, /without control characters or line breaks/);
    assert.match(byPath.get(`${base}.request_headers.remove[0]`)!, /the gateway frames messages with/);
    assert.match(byPath.get(`${base}.response_headers.sett`)!, /unknown key "sett" \(did you mean "set"\?\)/);
    assert.equal(problems.length, 8, problems.join('\n'));
  });

  it('check refuses a rewrite with nothing to do, and one on a tcp frontend', async () => {
    assert.deepEqual(await optionProblems('rewrite', {}), [
      [
        'frontends.web.routes[0].plugins[0].options',
        'plugin "rewrite" options: expected at least one of strip_prefix, path, add_prefix, request_headers, response_headers, found an empty mapping',
      ],
    ]);
    const tcp = await checkProblems({
      frontends: { db: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'db', plugins: [rewrite({ strip_prefix: '/x' })] } },
      backends: { db: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
    });
    assert.deepEqual(
      tcp.map((p) => [p.path, p.message]),
      [['frontends.db.plugins[0]', 'plugin "rewrite" failed to set up: rewrite works in http mode; frontend "db" is in tcp mode']],
    );
  });
});
