import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: targeted cache control (RFC 9213)', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  /** The x-cache of two requests in a row. */
  const twice = async (path: string, headers: Record<string, string>) => {
    c.routes.set(path, versioned(headers));
    const first = await c.request(path);
    const second = await c.request(path);
    return [first.headers['x-cache'], second.headers['x-cache']];
  };

  it('RFC 9213 2.2: CDN-Cache-Control max-age is used over Cache-Control no-store', async () => {
    assert.deepEqual(await twice('/cdn-max-age', { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60' }), ['MISS', 'HIT']);
  });

  it('RFC 9213 2.2: CDN-Cache-Control no-store and private keep a response Cache-Control allows out of the cache', async () => {
    assert.deepEqual(await twice('/cdn-no-store', { 'cache-control': 'public, max-age=600', 'cdn-cache-control': 'no-store' }), ['MISS', 'MISS']);
    assert.deepEqual(await twice('/cdn-private', { 'cache-control': 'public, max-age=600', 'cdn-cache-control': 'private' }), ['MISS', 'MISS']);
  });

  it('RFC 9213 2.2: CDN-Cache-Control no-cache has every use validated', async () => {
    c.routes.set('/cdn-no-cache', (req, res) => {
      req.resume();
      if (req.headers['if-none-match'] === '"a"') return void res.writeHead(304, { etag: '"a"' }).end();
      res.writeHead(200, { 'cache-control': 'max-age=600', 'cdn-cache-control': 'no-cache', etag: '"a"' }).end('a');
    });
    await c.request('/cdn-no-cache');
    const second = await c.request('/cdn-no-cache');
    assert.equal(second.headers['x-cache'], 'REVALIDATED');
    assert.equal(c.seen('/cdn-no-cache').length, 2);
  });

  it('RFC 9213 2.2: CDN-Cache-Control max-age and s-maxage set the lifetime; Cache-Control and Expires are ignored', async () => {
    const far = new Date(c.now() + 86_400_000).toUTCString();
    c.routes.set('/cdn-short', versioned({ 'cache-control': 'max-age=600', expires: far, 'cdn-cache-control': 'max-age=10' }));
    c.routes.set('/cdn-s-maxage', versioned({ 'cache-control': 's-maxage=600', 'cdn-cache-control': 'max-age=600, s-maxage=10' }));
    c.routes.set('/cdn-longer', versioned({ 'cache-control': 'max-age=5', 'cdn-cache-control': 'max-age=600' }));
    for (const path of ['/cdn-short', '/cdn-s-maxage', '/cdn-longer']) await c.request(path);
    c.advance(20_000);
    assert.equal((await c.request('/cdn-short')).body, 'v2');
    assert.equal((await c.request('/cdn-s-maxage')).body, 'v2');
    const longer = await c.request('/cdn-longer');
    assert.deepEqual([longer.body, longer.headers['x-cache']], ['v1', 'HIT']);
  });

  it('RFC 9213 2.2 with RFC 9111 4.3.4: a 304 carrying the field replaces it in the stored response', async () => {
    c.routes.set('/cdn-freshened', (req, res) => {
      req.resume();
      if (req.headers['if-none-match'] === '"f"') return void res.writeHead(304, { etag: '"f"', 'cdn-cache-control': 'max-age=100' }).end();
      res.writeHead(200, { 'cache-control': 'max-age=600', 'cdn-cache-control': 'max-age=10', etag: '"f"' }).end('f');
    });
    await c.request('/cdn-freshened');
    c.advance(20_000);
    assert.equal((await c.request('/cdn-freshened')).headers['x-cache'], 'REVALIDATED');
    c.advance(50_000);
    assert.equal((await c.request('/cdn-freshened')).headers['x-cache'], 'HIT');
  });

  it('RFC 9213 2.1: a field that is not a valid Structured Field Dictionary is ignored: Cache-Control applies', async () => {
    for (const invalid of ['max-age=60s', 'max-age=60,', 'Max-Age=60', 'max-age=60; x=', ''])
      assert.deepEqual(
        await twice(`/cdn-invalid-${encodeURIComponent(invalid)}`, { 'cache-control': 'no-store', 'cdn-cache-control': invalid }),
        ['MISS', 'MISS'],
        `CDN-Cache-Control: ${invalid}`,
      );
  });

  it('RFC 9213 2.1: a delta-seconds directive that is not an Integer makes the response stale', async () => {
    assert.deepEqual(await twice('/cdn-string-age', { 'cache-control': 'max-age=600', 'cdn-cache-control': 'max-age="60"' }), ['MISS', 'MISS']);
    assert.deepEqual(await twice('/cdn-decimal-age', { 'cache-control': 'max-age=600', 'cdn-cache-control': 'max-age=60.5' }), ['MISS', 'MISS']);
  });

  it('RFC 9213 2.1: parameters, booleans and tokens are read as Structured Fields', async () => {
    assert.deepEqual(await twice('/cdn-params', { 'cache-control': 'no-store', 'cdn-cache-control': 'max-age=60;a=1, public' }), ['MISS', 'HIT']);
    assert.deepEqual(await twice('/cdn-false', { 'cache-control': 'no-store', 'cdn-cache-control': 'no-store=?0, max-age=60' }), ['MISS', 'HIT']);
    assert.deepEqual(await twice('/cdn-true', { 'cache-control': 'max-age=60', 'cdn-cache-control': 'no-store=?1' }), ['MISS', 'MISS']);
  });

  it('RFC 9213 3: CDN-Cache-Control is forwarded to the client by default, from the server and from the cache', async () => {
    c.routes.set('/cdn-forwarded', answer(200, { 'cdn-cache-control': 'max-age=60' }));
    assert.equal((await c.request('/cdn-forwarded')).headers['cdn-cache-control'], 'max-age=60');
    const hit = await c.request('/cdn-forwarded');
    assert.deepEqual([hit.headers['x-cache'], hit.headers['cdn-cache-control']], ['HIT', 'max-age=60']);
  });
});

describe('cache: targeted and strip_targeted options', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache({ targeted: ['Tapgate-Cache-Control', 'cdn-cache-control'], strip_targeted: ['tapgate-cache-control'] })));
  after(() => c.close());

  it('RFC 9213 2.2: the first configured field present with a valid value wins', async () => {
    c.routes.set('/own', answer(200, { 'cache-control': 'no-store', 'tapgate-cache-control': 'max-age=60', 'cdn-cache-control': 'no-store' }));
    await c.request('/own');
    assert.equal((await c.request('/own')).headers['x-cache'], 'HIT');
    c.routes.set('/own-invalid', answer(200, { 'cache-control': 'max-age=60', 'tapgate-cache-control': 'max-age=60,,', 'cdn-cache-control': 'no-store' }));
    await c.request('/own-invalid');
    assert.equal((await c.request('/own-invalid')).headers['x-cache'], 'MISS', 'an invalid first field gives way to the next');
  });

  it('strip_targeted: the listed fields never reach the client, the others do; the stored response still follows them', async () => {
    c.routes.set('/stripped', answer(200, { 'cache-control': 'no-store', 'tapgate-cache-control': 'max-age=60', 'cdn-cache-control': 'max-age=30' }));
    for (const result of ['MISS', 'HIT']) {
      const r = await c.request('/stripped');
      assert.equal(r.headers['x-cache'], result);
      assert.equal(r.headers['tapgate-cache-control'], undefined);
      assert.equal(r.headers['cdn-cache-control'], 'max-age=30');
      assert.equal(r.headers['cache-control'], 'no-store');
    }
    c.advance(40_000);
    assert.equal((await c.request('/stripped')).headers['x-cache'], 'HIT', 'max-age=60 of the stripped field still holds');
  });

  it('strip_targeted: true strips every field of targeted', async () => {
    const all = await startCache({ strip_targeted: true });
    try {
      all.routes.set('/all', answer(200, { 'cdn-cache-control': 'max-age=60' }));
      for (const result of ['MISS', 'HIT']) {
        const r = await all.request('/all');
        assert.deepEqual([r.headers['x-cache'], r.headers['cdn-cache-control']], [result, undefined]);
      }
    } finally {
      await all.close();
    }
  });
});
