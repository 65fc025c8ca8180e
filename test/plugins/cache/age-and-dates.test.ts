import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: Age and HTTP-date fields are read exactly, or the response counts as stale', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  it('RFC 9111 5.1: of an Age list the first value counts (Age: 10, 0 is ten seconds old)', async () => {
    c.routes.set('/age-list', answer(200, { 'cache-control': 'max-age=60', age: '10, 0' }));
    await c.request('/age-list');
    c.advance(5_000);
    const hit = await c.request('/age-list');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '15');
  });

  it('RFC 9111 5.1: Age: 7200, 0 with max-age=3600 is stale, not fresh', async () => {
    c.routes.set('/age-list-stale', versioned({ 'cache-control': 'max-age=3600', age: '7200, 0' }));
    await c.request('/age-list-stale');
    const second = await c.request('/age-list-stale');
    assert.notEqual(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, 'v2');
    assert.equal(c.seen('/age-list-stale').length, 2);
  });

  it('RFC 9111 5.1: Age on two field lines (7200, then 0) with max-age=3600 is stale, not fresh', async () => {
    let version = 0;
    c.routes.set('/age-lines', (req, res) => {
      req.resume();
      res.setHeader('cache-control', 'max-age=3600');
      res.setHeader('age', ['7200', '0']);
      res.writeHead(200).end(`v${++version}`);
    });
    await c.request('/age-lines');
    const second = await c.request('/age-lines');
    assert.notEqual(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, 'v2');
  });

  for (const age of ['7200s', '-1', '1.5', 'abc', '', ', 7200', '0x10']) {
    it(`RFC 9111 5.1: an Age that is not delta-seconds (${JSON.stringify(age)}) makes the response stale: validated before use`, async () => {
      const path = `/age-invalid-${encodeURIComponent(age)}`;
      c.routes.set(path, versioned({ 'cache-control': 'max-age=3600', etag: '"a"', age }));
      await c.request(path);
      const second = await c.request(path);
      assert.notEqual(second.headers['x-cache'], 'HIT');
      assert.equal(c.seen(path).length, 2);
      assert.equal(c.seen(path)[1]!.headers['if-none-match'], '"a"', 'the stored response is revalidated');
    });
  }

  // Date.parse reads all of these as 1 December 2050 (but 0, the year 2000).
  const invalidExpires = [
    'Thu, 01 Dec 2050 16:00:00 UTC',
    'Thu 01 Dec 2050 16:00:00 GMT',
    'Thu,  01 Dec  2050 16:00:00 GMT',
    'Thu, 01-Dec-2050 16:00:00 GMT',
    'Thu, 01 Dec 2050 6:00:00 GMT',
    'thu, 01 dec 2050 16:00:00 gmt',
    '2050-12-01T16:00:00Z',
    '0',
  ];
  for (const expires of invalidExpires) {
    it(`RFC 9111 5.3: Expires: ${JSON.stringify(expires)} is not an HTTP-date, so already expired`, async () => {
      const path = `/expires-invalid-${encodeURIComponent(expires)}`;
      c.routes.set(path, versioned({ expires, etag: '"e"' }));
      await c.request(path);
      const second = await c.request(path);
      assert.notEqual(second.headers['x-cache'], 'HIT');
      assert.equal(c.seen(path).length, 2);
    });
  }

  it('RFC 9110 5.6.7: Expires in the obsolete rfc850 and asctime forms is read', async () => {
    c.routes.set('/expires-rfc850', versioned({ expires: 'Thursday, 01-Dec-50 16:00:00 GMT' }));
    c.routes.set('/expires-asctime', versioned({ expires: 'Thu Dec  1 16:00:00 2050' }));
    for (const path of ['/expires-rfc850', '/expires-asctime']) {
      await c.request(path);
      c.advance(1_000);
      assert.equal((await c.request(path)).headers['x-cache'], 'HIT', path);
    }
  });

  it('RFC 9111 4.2.2: a Last-Modified that is not an HTTP-date gives no heuristic freshness', async () => {
    const date = new Date(c.now() - 100_000);
    // What toUTCString gives, but with UTC for GMT: Date.parse reads it, HTTP does not.
    const lastModified = date.toUTCString().replace('GMT', 'UTC');
    c.routes.set('/heuristic-invalid', versioned({ 'last-modified': lastModified }));
    await c.request('/heuristic-invalid');
    c.advance(1_000);
    assert.notEqual((await c.request('/heuristic-invalid')).headers['x-cache'], 'HIT');
    assert.equal(c.seen('/heuristic-invalid').length, 2);
  });

  it('RFC 9110 6.6.1: a Date that is not an HTTP-date is replaced by the time received (no apparent age)', async () => {
    const date = new Date(c.now() - 100_000).toUTCString().replace('GMT', 'UTC');
    c.routes.set('/date-invalid', answer(200, { 'cache-control': 'max-age=3600', date }));
    await c.request('/date-invalid');
    c.advance(5_000);
    const hit = await c.request('/date-invalid');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers.age, '5');
  });
});
