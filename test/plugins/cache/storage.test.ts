import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: what is stored, for how long, and for whom', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  it('RFC 9111 3: a 200 with max-age is stored; the next request is a HIT with the same body and no server request', async () => {
    c.routes.set('/max-age', versioned({ 'cache-control': 'max-age=60', 'content-type': 'text/plain' }));
    const first = await c.request('/max-age');
    const second = await c.request('/max-age');
    assert.equal(first.headers['x-cache'], 'MISS');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, 'v1');
    assert.equal(second.headers['content-type'], 'text/plain');
    assert.equal(second.headers.age, '0');
    assert.equal(c.seen('/max-age').length, 1);
  });

  it('RFC 9111 4.2.3: Age is the Age the origin sent plus the time spent in the cache', async () => {
    c.routes.set('/age', answer(200, { 'cache-control': 'max-age=60', age: '10' }));
    await c.request('/age');
    c.advance(5_000);
    const hit = await c.request('/age');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '15');
  });

  it('RFC 9111 4.2: a response is fresh while its age is below max-age, then fetched again', async () => {
    const origin = versioned({ 'cache-control': 'max-age=10' });
    c.routes.set('/expire', origin);
    await c.request('/expire');
    c.advance(9_000);
    assert.equal((await c.request('/expire')).headers['x-cache'], 'HIT');
    c.advance(2_000);
    const again = await c.request('/expire');
    assert.equal(again.headers['x-cache'], 'MISS');
    assert.equal(again.body, 'v2');
    assert.equal((await c.request('/expire')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 5.2.2.10: s-maxage overrides max-age in a shared cache', async () => {
    c.routes.set('/s-maxage', versioned({ 'cache-control': 'max-age=0, s-maxage=60' }));
    await c.request('/s-maxage');
    assert.equal((await c.request('/s-maxage')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 5.3: Expires minus Date is the lifetime when there is no max-age', async () => {
    const expires = new Date(c.now() + 20_000).toUTCString();
    c.routes.set('/expires', versioned({ expires }));
    await c.request('/expires');
    c.advance(15_000);
    assert.equal((await c.request('/expires')).headers['x-cache'], 'HIT');
    c.advance(10_000);
    assert.equal((await c.request('/expires')).headers['x-cache'], 'MISS');
  });

  it('RFC 9111 5.3: an invalid Expires means already expired', async () => {
    c.routes.set('/expires-0', versioned({ expires: '0', etag: '"e"' }));
    await c.request('/expires-0');
    assert.notEqual((await c.request('/expires-0')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 4.2.2: heuristic freshness is 10% of the time since Last-Modified, for a status cacheable by default', async () => {
    const lastModified = new Date(c.now() - 100_000).toUTCString();
    c.routes.set('/heuristic', versioned({ 'last-modified': lastModified }));
    await c.request('/heuristic');
    c.advance(9_000);
    assert.equal((await c.request('/heuristic')).headers['x-cache'], 'HIT');
    c.advance(2_000);
    await c.request('/heuristic');
    const last = c.seen('/heuristic').at(-1)!;
    assert.equal(c.seen('/heuristic').length, 2);
    assert.equal(last.headers['if-modified-since'], lastModified, 'the stale entry is revalidated');
  });

  it('RFC 9111 3: a status not cacheable by default (500) is not stored without explicit freshness', async () => {
    c.routes.set('/500', answer(500, { 'last-modified': new Date(c.now() - 100_000).toUTCString() }));
    await c.request('/500');
    await c.request('/500');
    assert.equal(c.seen('/500').length, 2);
  });

  it('RFC 9111 3: a 404 with max-age is stored (negative caching)', async () => {
    c.routes.set('/gone', answer(404, { 'cache-control': 'max-age=30' }, 'nope'));
    await c.request('/gone');
    const hit = await c.request('/gone');
    assert.equal(hit.status, 404);
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, 'nope');
  });

  it('RFC 9111 5.2.2.5: a no-store response is never stored', async () => {
    c.routes.set('/no-store', versioned({ 'cache-control': 'no-store, max-age=60' }));
    await c.request('/no-store');
    const second = await c.request('/no-store');
    assert.equal(second.headers['x-cache'], 'MISS');
    assert.equal(second.body, 'v2');
  });

  it('RFC 9111 5.2.1.5: a request with no-store does not store the response', async () => {
    c.routes.set('/req-no-store', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/req-no-store', { headers: { 'cache-control': 'no-store' } });
    assert.equal((await c.request('/req-no-store')).headers['x-cache'], 'MISS');
    assert.equal(c.seen('/req-no-store').length, 2);
  });

  it('RFC 9111 5.2.2.7: a private response is not stored by a shared cache', async () => {
    c.routes.set('/private', versioned({ 'cache-control': 'private, max-age=60' }));
    await c.request('/private');
    assert.equal((await c.request('/private')).body, 'v2');
  });

  it('RFC 9111 5.2.2.4: a no-cache response is stored but validated on every use', async () => {
    let calls = 0;
    c.routes.set('/no-cache', (req, res) => {
      calls++;
      if (req.headers['if-none-match'] === '"nc"') return void res.writeHead(304, { etag: '"nc"', 'cache-control': 'no-cache' }).end();
      res.writeHead(200, { etag: '"nc"', 'cache-control': 'no-cache' }).end('stored');
    });
    await c.request('/no-cache');
    const second = await c.request('/no-cache');
    assert.equal(calls, 2);
    assert.equal(second.status, 200);
    assert.equal(second.body, 'stored');
    assert.equal(second.headers['x-cache'], 'REVALIDATED');
  });

  it('RFC 9111 3.5: a response to a request with Authorization is not stored without public, s-maxage or must-revalidate', async () => {
    c.routes.set('/auth-plain', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/auth-plain', { headers: { authorization: 'Bearer a' } });
    assert.equal((await c.request('/auth-plain', { headers: { authorization: 'Bearer b' } })).body, 'v2');
  });

  it('RFC 9111 3.5: a response to a request with Authorization is stored when it says public', async () => {
    c.routes.set('/auth-public', versioned({ 'cache-control': 'public, max-age=60' }));
    await c.request('/auth-public', { headers: { authorization: 'Bearer a' } });
    const hit = await c.request('/auth-public', { headers: { authorization: 'Bearer b' } });
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.body, 'v1');
  });

  it('RFC 9111 3.5: ...or s-maxage, or must-revalidate', async () => {
    c.routes.set('/auth-s', versioned({ 'cache-control': 's-maxage=60' }));
    c.routes.set('/auth-mr', versioned({ 'cache-control': 'max-age=60, must-revalidate' }));
    for (const path of ['/auth-s', '/auth-mr']) {
      await c.request(path, { headers: { authorization: 'Bearer a' } });
      assert.equal((await c.request(path)).headers['x-cache'], 'HIT', path);
    }
  });

  it("RFC 9111 3: a response with Set-Cookie is not stored (a deliberate restriction: it would hand one client's cookie to others)", async () => {
    c.routes.set('/cookie', versioned({ 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }));
    await c.request('/cookie');
    assert.equal((await c.request('/cookie')).body, 'v2');
  });

  it('RFC 9111 4.1: Vary keeps one variant per value of the named request header', async () => {
    c.routes.set('/vary', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'Accept-Language' }).end(`lang=${req.headers['accept-language'] ?? 'none'}`);
    });
    const fr = await c.request('/vary', { headers: { 'accept-language': 'fr' } });
    const de = await c.request('/vary', { headers: { 'accept-language': 'de' } });
    const none = await c.request('/vary');
    assert.deepEqual([fr.body, de.body, none.body], ['lang=fr', 'lang=de', 'lang=none']);
    assert.equal(c.seen('/vary').length, 3);
    const again = await Promise.all([
      c.request('/vary', { headers: { 'accept-language': 'de' } }),
      c.request('/vary', { headers: { 'accept-language': 'fr' } }),
      c.request('/vary'),
    ]);
    assert.deepEqual(
      again.map((r) => r.body),
      ['lang=de', 'lang=fr', 'lang=none'],
    );
    assert.deepEqual(
      again.map((r) => r.headers['x-cache']),
      ['HIT', 'HIT', 'HIT'],
    );
    assert.equal(c.seen('/vary').length, 3);
  });

  it('RFC 9111 4.1: a response with Vary: * is never served from the cache', async () => {
    c.routes.set('/vary-star', versioned({ 'cache-control': 'max-age=60', vary: '*' }));
    await c.request('/vary-star');
    assert.equal((await c.request('/vary-star')).body, 'v2');
  });

  it('RFC 9110 9.3.2: HEAD is answered from a stored GET, with its headers and no body', async () => {
    c.routes.set('/head', answer(200, { 'cache-control': 'max-age=60', 'content-type': 'text/html' }, 'twelve bytes'));
    await c.request('/head');
    const head = await c.request('/head', { method: 'HEAD' });
    assert.equal(head.headers['x-cache'], 'HIT');
    assert.equal(head.headers['content-length'], '12');
    assert.equal(head.headers['content-type'], 'text/html');
    assert.equal(head.body, '');
    assert.equal(c.seen('/head').length, 1);
  });

  it('RFC 9111 3: a HEAD miss is passed through and stores nothing', async () => {
    c.routes.set('/head-miss', versioned({ 'cache-control': 'max-age=60' }));
    assert.equal((await c.request('/head-miss', { method: 'HEAD' })).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/head-miss')).headers['x-cache'], 'MISS');
  });

  it('RFC 9111 5.2.1.1: a request with max-age=0 is not answered from the cache without validation', async () => {
    c.routes.set('/req-max-age', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/req-max-age');
    const r = await c.request('/req-max-age', { headers: { 'cache-control': 'max-age=0' } });
    assert.equal(r.body, 'v2');
  });

  it('RFC 9111 5.2.1.3: min-fresh refuses a response that will not stay fresh that long', async () => {
    c.routes.set('/min-fresh', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/min-fresh');
    c.advance(30_000);
    assert.equal((await c.request('/min-fresh', { headers: { 'cache-control': 'min-fresh=20' } })).headers['x-cache'], 'HIT');
    assert.equal((await c.request('/min-fresh', { headers: { 'cache-control': 'min-fresh=40' } })).headers['x-cache'], 'MISS');
  });

  it('RFC 9111 5.2.1.2: max-stale accepts a stale response', async () => {
    c.routes.set('/max-stale', versioned({ 'cache-control': 'max-age=10' }));
    await c.request('/max-stale');
    c.advance(15_000);
    const r = await c.request('/max-stale', { headers: { 'cache-control': 'max-stale=10' } });
    assert.equal(r.headers['x-cache'], 'STALE');
    assert.equal(r.body, 'v1');
    assert.equal(r.headers.age, '15');
  });

  it('RFC 9111 4.2.4, 5.2.2.2: must-revalidate forbids serving stale, even to a client asking for max-stale', async () => {
    c.routes.set('/must-revalidate', versioned({ 'cache-control': 'max-age=10, must-revalidate' }));
    await c.request('/must-revalidate');
    c.advance(15_000);
    const r = await c.request('/must-revalidate', { headers: { 'cache-control': 'max-stale' } });
    assert.equal(r.body, 'v2');
  });

  it('RFC 9111 5.2.1.7: only-if-cached answers 504 when nothing is stored', async () => {
    c.routes.set('/only-if-cached', versioned({ 'cache-control': 'max-age=60' }));
    const r = await c.request('/only-if-cached', { headers: { 'cache-control': 'only-if-cached' } });
    assert.equal(r.status, 504);
    assert.equal(c.seen('/only-if-cached').length, 0);
  });

  it('RFC 9111 5.4: Pragma: no-cache without Cache-Control is read as no-cache', async () => {
    c.routes.set('/pragma', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/pragma');
    assert.equal((await c.request('/pragma', { headers: { pragma: 'no-cache' } })).body, 'v2');
  });

  it('RFC 9111 2: the query is part of the key', async () => {
    c.routes.set('/query', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60' }).end(req.url);
    });
    assert.equal((await c.request('/query?a=1')).body, '/query?a=1');
    assert.equal((await c.request('/query?a=2')).body, '/query?a=2');
    assert.equal((await c.request('/query?a=1')).headers['x-cache'], 'HIT');
  });

  it('counts hits and misses in the metrics', async () => {
    assert.ok(c.counter('cache_hits_total') > 0);
    assert.ok(c.counter('cache_misses_total') > 0);
    assert.ok(c.counter('cache_stored_bytes_total') > 0);
  });
});
