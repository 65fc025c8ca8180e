// `set_cookie`: a response with Set-Cookie is refused by default; `strip` stores it,
// otherwise cacheable, without the cookie, which only the client that reached the server gets.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: set_cookie', () => {
  describe('refuse (the default)', () => {
    let c: CacheFixture;
    before(async () => (c = await startCache()));
    after(() => c.close());

    it('a response with Set-Cookie is not stored: each request reaches the server and gets its cookie', async () => {
      c.routes.set('/greet', versioned({ 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }));
      for (let i = 0; i < 2; i++) assert.deepEqual((await c.request('/greet')).headers['set-cookie'], ['sid=1']);
      assert.equal(c.seen('/greet').length, 2);
    });
  });

  describe('strip', () => {
    let c: CacheFixture;
    before(async () => (c = await startCache({ set_cookie: 'strip' })));
    after(() => c.close());

    it('stores the response without its Set-Cookie: the first client gets the cookie, a hit does not', async () => {
      c.routes.set('/page', versioned({ 'cache-control': 'max-age=60', 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/plain' }));
      const first = await c.request('/page');
      assert.deepEqual(first.headers['set-cookie'], ['a=1', 'b=2']);
      const hit = await c.request('/page');
      assert.equal(hit.headers['x-cache'], 'HIT');
      assert.equal(hit.headers['set-cookie'], undefined);
      assert.equal(hit.headers['content-type'], 'text/plain');
      assert.equal(hit.body, 'v1');
      assert.equal(c.seen('/page').length, 1);
    });

    it('a response not cacheable for other reasons is still not stored (private, no max-age or validator)', async () => {
      c.routes.set('/mine', versioned({ 'cache-control': 'private, max-age=60', 'set-cookie': 'sid=2' }));
      await c.request('/mine');
      await c.request('/mine');
      assert.equal(c.seen('/mine').length, 2);
    });

    it('a 304 carrying Set-Cookie does not put it back in the stored response', async () => {
      const cc = 'max-age=1';
      c.routes.set('/revalidated', (req, res) => {
        req.resume();
        if (req.headers['if-none-match'] === '"r"') return void res.writeHead(304, { etag: '"r"', 'cache-control': cc, 'set-cookie': 'late=1' }).end();
        res.writeHead(200, { etag: '"r"', 'cache-control': cc, 'set-cookie': 'early=1' }).end('body');
      });
      await c.request('/revalidated');
      c.advance(2_000);
      assert.equal((await c.request('/revalidated')).headers['x-cache'], 'REVALIDATED');
      const hit = await c.request('/revalidated');
      assert.equal(hit.headers['x-cache'], 'HIT');
      assert.equal(hit.headers['set-cookie'], undefined);
    });
  });
});
