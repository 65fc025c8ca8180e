import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: HTTP-date fields are read exactly, or not at all', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

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
