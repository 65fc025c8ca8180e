import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture, type FixtureSetup } from './fixture.ts';

describe('cache: options', () => {
  const open: CacheFixture[] = [];
  const start = async (options: object, setup?: FixtureSetup) => {
    const c = await startCache(options, setup);
    open.push(c);
    return c;
  };
  after(() => Promise.all(open.map((c) => c.close())));

  it('max_size: the byte bound evicts the least recently used responses and counts evictions', async () => {
    const c = await start({ max_size: '10k', max_object_size: '4k' });
    for (const name of ['a', 'b', 'c', 'd', 'e']) c.routes.set(`/${name}`, answer(200, { 'cache-control': 'max-age=60' }, name.repeat(3000)));
    for (const name of ['a', 'b', 'c']) await c.request(`/${name}`);
    assert.equal((await c.request('/a')).headers['x-cache'], 'HIT'); // a is now the most recently used
    await c.request('/d');
    await c.request('/e');
    assert.equal((await c.request('/a')).headers['x-cache'], 'HIT');
    assert.equal((await c.request('/b')).headers['x-cache'], 'MISS', 'the least recently used left first');
    assert.ok(c.counter('cache_evictions_total') >= 2);
    const held = c.counter('cache_bytes');
    assert.ok(held > 0 && held <= 10 * 1024, `${held} bytes held`);
  });

  it('max_object_size: a larger response is streamed whole to the client and not stored (announced or chunked)', async () => {
    const c = await start({ max_object_size: '1k' });
    c.routes.set('/big', answer(200, { 'cache-control': 'max-age=60' }, 'x'.repeat(5000)));
    c.routes.set('/big-chunked', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60' });
      for (let i = 0; i < 5; i++) res.write('y'.repeat(1000));
      res.end();
    });
    for (const path of ['/big', '/big-chunked']) {
      assert.equal((await c.request(path)).body.length, 5000);
      const second = await c.request(path);
      assert.equal(second.body.length, 5000);
      assert.equal(second.headers['x-cache'], 'MISS', path);
    }
  });

  it('ttl: overrides the lifetime the origin gives', async () => {
    const c = await start({ ttl: '5s' });
    c.routes.set('/ttl', versioned({ 'cache-control': 'max-age=3600' }));
    await c.request('/ttl');
    c.advance(4_000);
    assert.equal((await c.request('/ttl')).headers['x-cache'], 'HIT');
    c.advance(2_000);
    assert.equal((await c.request('/ttl')).headers['x-cache'], 'MISS');
  });

  it("ttl per route: a cache in each route's plugins with its own ttl applies it to that route only", async () => {
    const route = (name: string, ttl: string) => ({ name, match: { path: `/${name}/` }, plugins: [{ use: 'cache', options: { ttl } }] });
    const c = await start({}, { frontendCache: false, routes: [route('short', '5s'), route('long', '60s')] });
    c.routes.set('/short/page', versioned({ 'cache-control': 'max-age=3600' }));
    c.routes.set('/long/page', versioned({ 'cache-control': 'max-age=3600' }));
    c.routes.set('/other', versioned({ 'cache-control': 'max-age=3600' }));
    for (const path of ['/short/page', '/long/page', '/other'])
      assert.equal((await c.request(path)).headers['x-cache'], path === '/other' ? undefined : 'MISS');
    c.advance(4_000);
    assert.equal((await c.request('/short/page')).headers['x-cache'], 'HIT');
    assert.equal((await c.request('/long/page')).headers['x-cache'], 'HIT');
    c.advance(2_000);
    const short = await c.request('/short/page');
    assert.equal(short.headers['x-cache'], 'MISS', "the short route's 5 s are over");
    assert.equal(short.body, 'v2');
    assert.equal((await c.request('/long/page')).headers['x-cache'], 'HIT');
    c.advance(55_000);
    assert.equal((await c.request('/long/page')).headers['x-cache'], 'MISS', "the long route's 60 s are over");
    assert.equal((await c.request('/other')).body, 'v2', "the frontend's other requests are not cached");
    // Each route's cache has its own metrics label, frontend/route.
    const labels = c.gw
      .metrics()
      .find((m) => m.name === 'cache_hits_total')!
      .values.map((v) => v.labels.cache)
      .sort();
    assert.deepEqual(labels, ['web/long', 'web/short']);
  });

  it('key.ignore_query: true leaves the query out of the key; a list leaves out those parameters', async () => {
    const all = await start({ key: { ignore_query: true } });
    all.routes.set('/q', versioned({ 'cache-control': 'max-age=60' }));
    await all.request('/q?a=1');
    assert.equal((await all.request('/q?a=2')).headers['x-cache'], 'HIT');
    const some = await start({ key: { ignore_query: ['utm_source'] } });
    some.routes.set('/q', versioned({ 'cache-control': 'max-age=60' }));
    await some.request('/q?id=1&utm_source=x');
    assert.equal((await some.request('/q?id=1&utm_source=y')).headers['x-cache'], 'HIT');
    assert.equal((await some.request('/q?id=2&utm_source=x')).headers['x-cache'], 'MISS');
  });

  it('key.headers: a header added to the key keeps responses apart as Vary would', async () => {
    const c = await start({ key: { headers: ['X-Tenant'] } });
    c.routes.set('/t', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60' }).end(String(req.headers['x-tenant']));
    });
    assert.equal((await c.request('/t', { headers: { 'x-tenant': 'a' } })).body, 'a');
    assert.equal((await c.request('/t', { headers: { 'x-tenant': 'b' } })).body, 'b');
    const hit = await c.request('/t', { headers: { 'x-tenant': 'a' } });
    assert.equal(hit.body, 'a');
    assert.equal(hit.headers['x-cache'], 'HIT');
  });

  it('status_header: the X-Cache header name is configurable', async () => {
    const c = await start({ status_header: 'X-Edge-Cache' });
    c.routes.set('/h', versioned({ 'cache-control': 'max-age=60' }));
    assert.equal((await c.request('/h')).headers['x-edge-cache'], 'MISS');
    const hit = await c.request('/h');
    assert.equal(hit.headers['x-edge-cache'], 'HIT');
    assert.equal(hit.headers['x-cache'], undefined);
  });

  it('purge: PURGE drops one URL or every URL under a prefix, from allowed addresses only', async () => {
    const c = await start({ purge: { enabled: true } });
    for (const path of ['/p/1', '/p/2', '/keep']) {
      c.routes.set(path, versioned({ 'cache-control': 'max-age=60' }));
      await c.request(path);
    }
    const one = await c.request('/p/1', { method: 'PURGE' });
    assert.equal(one.status, 200);
    assert.deepEqual(JSON.parse(one.body), { purged: 1, workers: 1 });
    assert.equal((await c.request('/p/1')).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/p/2')).headers['x-cache'], 'HIT');
    assert.deepEqual(JSON.parse((await c.request('/p/*', { method: 'PURGE' })).body), { purged: 2, workers: 1 });
    assert.equal((await c.request('/p/2')).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/keep')).headers['x-cache'], 'HIT');

    const refused = await start({ purge: { enabled: true, allow: ['10.0.0.0/8'] } });
    assert.equal((await refused.request('/x', { method: 'PURGE' })).status, 403);
  });

  it('purge: off by default, PURGE goes to the server like any other method', async () => {
    const c = await start({});
    c.routes.set('/x', answer(405, {}, 'no'));
    assert.equal((await c.request('/x', { method: 'PURGE' })).status, 405);
    assert.equal(c.seen('/x').length, 1);
  });
});
