// The auth-request plugin against a real authentication service on 127.0.0.1: what the
// service is told, what the server is given, refusals passed through (401, 403, a login
// redirect), failures (an unexpected status, a timeout, no service), on_error: allow, the
// answer cache on the injected clock (counted by the service's requests), per-route and
// per-frontend use, and option problems.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createTestGateway, echoed as seen, get, unusedPort, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';
import { optionProblems } from '../route-actions/fixture.ts';

/** The authentication service: decides by the bearer token or the session cookie, and keeps what it was asked. */
const asked: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];
/** `hold` questions being answered now, and the most at once. */
const holding = { now: 0, most: 0 };
const auth = http.createServer((req, res) => {
  asked.push({ method: req.method!, url: req.url!, headers: req.headers });
  req.resume();
  const token = req.headers.authorization?.replace(/^Bearer /, '');
  const session = /session=(\w+)/.exec(req.headers.cookie ?? '')?.[1];
  if (token === 'slow') return void setTimeout(() => res.writeHead(200).end(), 1_500).unref();
  if (token === 'hold') {
    holding.most = Math.max(holding.most, ++holding.now);
    return void setTimeout(() => {
      holding.now--;
      res.writeHead(200, { 'x-user': 'held' }).end();
    }, 50);
  }
  if (token === 'good') return void res.writeHead(200, { 'x-user': 'alice', 'x-roles': 'admin' }).end('ok');
  if (session === 'bob') return void res.writeHead(204, { 'x-user': 'bob' }).end();
  if (session === 'anonymous') return void res.writeHead(200).end();
  if (token === 'forbidden') return void res.writeHead(403, { 'content-type': 'text/plain' }).end('no');
  if (token === 'login') return void res.writeHead(302, { location: 'https://login.example/?rd=back', 'x-secret': 'internal' }).end();
  if (token === 'broken') return void res.writeHead(500).end('oops');
  res.writeHead(401, { 'www-authenticate': 'Bearer realm="auth"', 'x-secret': 'internal' }).end('who?');
});
const askedSince = (n: number) => asked.length - n;

let origin: TestOrigin;
let gw: TestGateway;

before(async () => {
  await new Promise<void>((r) => auth.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(auth.address() as AddressInfo).port}/verify?app=shop`;
  const nobody = `http://127.0.0.1:${await unusedPort()}/verify`;
  const common = { url, upstream_headers: ['x-user'], timeout: '300ms' };
  gw = await createTestGateway({
    config: {
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          routes: [
            { name: 'app', match: { path: '/app' }, plugins: [{ use: 'auth-request', options: common }] },
            { name: 'cached', match: { path: '/cached' }, plugins: [{ use: 'auth-request', options: { ...common, cache_ttl: '10s' } }] },
            { name: 'login', match: { path: '/login' }, plugins: [{ use: 'auth-request', options: { ...common, refusal_statuses: [401, 403, 302] } }] },
            { name: 'down', match: { path: '/down' }, plugins: [{ use: 'auth-request', options: { ...common, url: nobody } }] },
            { name: 'lenient', match: { path: '/lenient' }, plugins: [{ use: 'auth-request', options: { ...common, url: nobody, on_error: 'allow' } }] },
            { name: 'narrow', match: { path: '/narrow' }, plugins: [{ use: 'auth-request', options: { ...common, timeout: '5s', connections: 1 } }] },
            { name: 'public', match: { path: '/public' } },
          ],
        },
        edge: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'auth-request', options: common }] },
      },
      backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
    },
    origins: { app: 'echo' },
    clock: { start: 1_000_000 },
  });
  origin = gw.origins.app!;
});
after(async () => {
  await gw?.close();
  auth.closeAllConnections();
  await new Promise((r) => auth.close(r));
});

describe('auth-request', () => {
  it('the service is told who asks and what: credentials and X-Forwarded-*, nothing else, never a body', async () => {
    const n = asked.length;
    await new Promise<void>((resolve, reject) => {
      const req = http.request(
        gw.url('/app/orders?id=7'),
        {
          method: 'POST',
          agent: false,
          headers: {
            authorization: 'Bearer good',
            cookie: 'session=x; theme=dark',
            'x-forwarded-for': '6.6.6.6',
            'x-other': 'no',
            'content-type': 'text/plain',
          },
        },
        (res) => res.resume().on('end', resolve),
      );
      req.on('error', reject).end('the body');
    });
    assert.equal(askedSince(n), 1);
    const { method, url, headers } = asked.at(-1)!;
    assert.equal(method, 'GET');
    assert.equal(url, '/verify?app=shop');
    assert.equal(headers.authorization, 'Bearer good');
    assert.equal(headers.cookie, 'session=x; theme=dark');
    assert.equal(headers['x-forwarded-method'], 'POST');
    assert.equal(headers['x-forwarded-uri'], '/app/orders?id=7');
    assert.equal(headers['x-forwarded-host'], `127.0.0.1:${gw.port()}`);
    assert.equal(headers['x-forwarded-for'], '127.0.0.1', "the client's own X-Forwarded-For is not believed");
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['x-other'], undefined);
    assert.equal(headers['content-type'], undefined);
    assert.equal(headers['content-length'], undefined);
  });

  it("a 2xx lets the request through with the listed headers of the service's answer, replacing the client's", async () => {
    const r = await get(gw.url('/app'), { authorization: 'Bearer good', 'x-user': 'root' });
    assert.equal(r.status, 200);
    assert.equal(seen(r).headers['x-user'], 'alice');
    assert.equal(seen(r).headers['x-roles'], undefined, 'only the listed headers');
    assert.equal(seen(r).headers.authorization, 'Bearer good', 'credentials go on to the server');
    assert.equal(seen(await get(gw.url('/app'), { cookie: 'session=bob' })).headers['x-user'], 'bob', '204 is a 2xx');
    const anonymous = await get(gw.url('/app'), { cookie: 'session=anonymous', 'x-user': 'root' });
    assert.equal(anonymous.status, 200);
    assert.equal(seen(anonymous).headers['x-user'], undefined, 'the service named nobody: no x-user at all');
  });

  it("401 and 403 reach the client with the service's WWW-Authenticate, and the server never sees the request", async () => {
    const before = origin.requests.length;
    const r = await get(gw.url('/app'), { 'x-user': 'root' });
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="auth"');
    assert.equal(r.headers['x-secret'], undefined, 'only the listed headers of a refusal');
    assert.equal(JSON.parse(r.body).error, 'unauthorized');
    assert.equal((await get(gw.url('/app'), { authorization: 'Bearer nonsense' })).status, 401);
    const forbidden = await get(gw.url('/app'), { authorization: 'Bearer forbidden' });
    assert.equal(forbidden.status, 403);
    assert.equal(JSON.parse(forbidden.body).error, 'forbidden');
    assert.equal(origin.requests.length, before);
  });

  it('a redirect to a login page reaches the client where 302 is listed; elsewhere it is an unexpected answer (500)', async () => {
    const r = await get(gw.url('/login'), { authorization: 'Bearer login' });
    assert.equal(r.status, 302);
    assert.equal(r.headers.location, 'https://login.example/?rd=back');
    assert.equal((await get(gw.url('/app'), { authorization: 'Bearer login' })).status, 500);
  });

  it('an error of the service is a 500; a service too slow (timeout) or not there is a 503; on_error: allow lets requests through', async () => {
    const before = origin.requests.length;
    const broken = await get(gw.url('/app'), { authorization: 'Bearer broken' });
    assert.equal(broken.status, 500);
    assert.match(JSON.parse(broken.body).error_description, /answered unexpectedly/);
    const started = performance.now();
    const slow = await get(gw.url('/app'), { authorization: 'Bearer slow' });
    assert.equal(slow.status, 503);
    assert.match(JSON.parse(slow.body).error_description, /did not answer/);
    assert.ok(performance.now() - started < 1_200, 'refused at the 300 ms timeout, not when the service answers');
    assert.equal((await get(gw.url('/down'), { authorization: 'Bearer good' })).status, 503);
    assert.equal(origin.requests.length, before);
    const lenient = await get(gw.url('/lenient'), { authorization: 'Bearer good', 'x-user': 'root' });
    assert.equal(lenient.status, 200);
    assert.equal(seen(lenient).headers['x-user'], undefined, 'no identity when the service said nothing');
  });

  it('connections bounds the questions asked at once; the others wait their turn', async () => {
    const answers = await Promise.all([1, 2, 3].map(() => get(gw.url('/narrow'), { authorization: 'Bearer hold' })));
    assert.deepEqual(
      answers.map((r) => seen(r).headers['x-user']),
      ['held', 'held', 'held'],
    );
    assert.equal(holding.most, 1);
  });

  it('cache_ttl reuses an answer for the same credentials until it is older than the TTL, refusals too', async () => {
    gw.clock.advance(60_000);
    const n = asked.length;
    const good = { authorization: 'Bearer good' };
    assert.equal(seen(await get(gw.url('/cached'), good)).headers['x-user'], 'alice');
    assert.equal(askedSince(n), 1);
    assert.equal(seen(await get(gw.url('/cached'), good)).headers['x-user'], 'alice');
    assert.equal(
      seen(await get(gw.url('/cached'), { ...good, 'x-user': 'root' })).headers['x-user'],
      'alice',
      'a cached answer still replaces the client header',
    );
    assert.equal(askedSince(n), 1, 'answered from the cache');
    assert.equal(seen(await get(gw.url('/cached'), { ...good, cookie: 'session=bob' })).headers['x-user'], 'alice');
    assert.equal(askedSince(n), 2, 'other credentials (a cookie added), another question');
    assert.equal((await get(gw.url('/cached'), { authorization: 'Bearer nope' })).status, 401);
    assert.equal((await get(gw.url('/cached'), { authorization: 'Bearer nope' })).headers['www-authenticate'], 'Bearer realm="auth"');
    assert.equal(askedSince(n), 3, 'a refusal is cached too');
    gw.clock.advance(9_000);
    await get(gw.url('/cached'), good);
    assert.equal(askedSince(n), 3, 'still within 10 s');
    gw.clock.advance(2_000);
    await get(gw.url('/cached'), good);
    assert.equal(askedSince(n), 4, 'asked again after 10 s');
    // Without cache_ttl, every request asks.
    await get(gw.url('/app'), good);
    await get(gw.url('/app'), good);
    assert.equal(askedSince(n), 6);
  });

  it('a failure is never cached', async () => {
    const n = asked.length;
    assert.equal((await get(gw.url('/cached'), { authorization: 'Bearer broken' })).status, 500);
    assert.equal((await get(gw.url('/cached'), { authorization: 'Bearer broken' })).status, 500);
    assert.equal(askedSince(n), 2);
  });

  it('a route without the plugin never asks; on a frontend, every request of it is checked', async () => {
    const n = asked.length;
    assert.equal((await get(gw.url('/public'))).status, 200);
    assert.equal(askedSince(n), 0);
    assert.equal((await get(gw.url('/anything', 'edge'))).status, 401);
    const r = await get(gw.url('/anything', 'edge'), { authorization: 'Bearer good' });
    assert.equal(seen(r).headers['x-user'], 'alice');
    assert.equal(askedSince(n), 2);
  });

  it('check reports option problems at their key paths', async () => {
    const base = 'frontends.web.routes[0].plugins[0].options';
    const problems = await optionProblems('auth-request', {
      url: 'ftp://auth',
      forward_headers: ['host'],
      refusal_statuses: [200],
      cache_key: ['x-user'],
      timeout: 0,
    });
    assert.deepEqual(problems.map(([path]) => path).sort(), [
      `${base}.cache_key[0]`,
      `${base}.forward_headers[0]`,
      `${base}.refusal_statuses[0]`,
      `${base}.timeout`,
      `${base}.url`,
    ]);
    const messages = Object.fromEntries(problems);
    assert.match(messages[`${base}.url`]!, /expected an http:\/\/ or https:\/\/ URL/);
    assert.match(messages[`${base}.cache_key[0]`]!, /expected a header sent to the service: one of forward_headers or x-forwarded-method/);
    assert.match(messages[`${base}.forward_headers[0]`]!, /expected a header other than host/);
    assert.deepEqual(await optionProblems('auth-request', { url: 'http://127.0.0.1:9/auth', on_error: 'open' }), [
      [`${base}.on_error`, 'plugin "auth-request" options: expected one of "deny", "allow", found "open"'],
    ]);
    assert.deepEqual(await optionProblems('auth-request', {}), [[`${base}.url`, 'plugin "auth-request" options: missing required key "url"']]);
  });
});
