import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: no-cache="field" and private="field" store the response without those fields', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  it('RFC 9111 5.2.2.4: no-cache="x-secret" stores the response without X-Secret and serves it without validation', async () => {
    c.routes.set('/nc-field', versioned({ 'cache-control': 'max-age=60, no-cache="x-secret"', 'x-secret': 's3', 'content-type': 'text/plain', etag: '"n"' }));
    const first = await c.request('/nc-field');
    assert.equal(first.headers['x-secret'], 's3', 'the response that went to the server keeps it');
    const second = await c.request('/nc-field');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, 'v1');
    assert.equal(second.headers['x-secret'], undefined);
    assert.equal(second.headers['content-type'], 'text/plain');
    assert.equal(c.seen('/nc-field').length, 1);
  });

  it('RFC 9111 5.2.2.7: private="x-user" stores the rest of the response in a shared cache', async () => {
    c.routes.set('/private-field', versioned({ 'cache-control': 'private="x-user", max-age=60', 'x-user': 'alice' }));
    assert.equal((await c.request('/private-field')).headers['x-user'], 'alice');
    const second = await c.request('/private-field');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.body, 'v1');
    assert.equal(second.headers['x-user'], undefined);
  });

  it('RFC 9111 5.2.2.7: every field of the list goes, whatever its case; the directive may repeat', async () => {
    c.routes.set(
      '/fields',
      versioned({ 'cache-control': 'max-age=60, private="X-A, x-b", no-cache=x-c, private="x-d"', 'x-a': '1', 'x-b': '2', 'x-c': '3', 'x-d': '4', 'x-e': '5' }),
    );
    await c.request('/fields');
    const hit = await c.request('/fields');
    assert.equal(hit.headers['x-cache'], 'HIT');
    for (const name of ['x-a', 'x-b', 'x-c', 'x-d']) assert.equal(hit.headers[name], undefined, name);
    assert.equal(hit.headers['x-e'], '5');
  });

  it('RFC 9111 5.2.2.4: a Set-Cookie the origin names in no-cache="set-cookie" is left out and the rest is stored', async () => {
    c.routes.set('/cookie-field', versioned({ 'cache-control': 'max-age=60, no-cache="set-cookie"', 'set-cookie': 'session=alice' }));
    assert.deepEqual((await c.request('/cookie-field')).headers['set-cookie'], ['session=alice']);
    const second = await c.request('/cookie-field');
    assert.equal(second.headers['x-cache'], 'HIT');
    assert.equal(second.headers['set-cookie'], undefined);
    assert.equal(second.body, 'v1');
  });

  it('RFC 9111 4.3.4: a 304 carrying a withheld field does not put it back in the stored response', async () => {
    const cc = 'max-age=1, no-cache="x-secret"';
    c.routes.set('/nc-304', (req, res) => {
      req.resume();
      if (req.headers['if-none-match'] === '"r"') return void res.writeHead(304, { etag: '"r"', 'cache-control': cc, 'x-secret': 'new' }).end();
      res.writeHead(200, { etag: '"r"', 'cache-control': cc, 'x-secret': 'old' }).end('body');
    });
    await c.request('/nc-304');
    c.advance(2_000);
    const revalidated = await c.request('/nc-304');
    assert.equal(revalidated.headers['x-cache'], 'REVALIDATED');
    assert.equal(revalidated.headers['x-secret'], undefined);
    const hit = await c.request('/nc-304');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['x-secret'], undefined);
  });

  it('RFC 9111 5.2.2.4: a bare no-cache next to a qualified one still means validation before every use', async () => {
    c.routes.set('/nc-both', versioned({ 'cache-control': 'max-age=60, no-cache="x-a", no-cache', etag: '"b"' }));
    await c.request('/nc-both');
    assert.notEqual((await c.request('/nc-both')).headers['x-cache'], 'HIT');
    assert.equal(c.seen('/nc-both').length, 2);
  });

  for (const cc of ['private=""', 'private="x-a, "', 'private="x a"', 'private=', 'private="x-a", private']) {
    it(`RFC 9111 5.2.2.7: ${cc} counts as bare private (no field list, or a bare one beside it): not stored`, async () => {
      const path = `/private-${encodeURIComponent(cc)}`;
      c.routes.set(path, versioned({ 'cache-control': `${cc}, max-age=60` }));
      await c.request(path);
      assert.equal((await c.request(path)).body, 'v2');
    });
  }
});
