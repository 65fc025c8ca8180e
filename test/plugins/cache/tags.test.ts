// Purge by tag: responses name their tags in a header (Cache-Tag by default), the
// store indexes them, and a purge by tag removes every response so tagged.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { MemoryStore } from '../../../plugins/cache/store.ts';
import { answer, startCache, type CacheFixture, type FixtureSetup } from './fixture.ts';

describe('cache: tags', () => {
  const open: CacheFixture[] = [];
  const start = async (options: object, setup: FixtureSetup = { stats: true }) => {
    const c = await startCache(options, setup);
    open.push(c);
    return c;
  };
  after(() => Promise.all(open.map((c) => c.close())));
  const purgeTag = (c: CacheFixture, tag: string) => c.admin('/cache/purge', { method: 'POST', body: { tag } }).then((r) => r.body);

  it('Cache-Tag (comma or space separated) tags a response; the header is not sent to clients', async () => {
    const c = await start({});
    c.routes.set('/a', answer(200, { 'cache-control': 'max-age=60', 'cache-tag': 'product-1, list  home' }, 'a'));
    c.routes.set('/b', answer(200, { 'cache-control': 'max-age=60', 'cache-tag': 'product-2,list' }, 'b'));
    c.routes.set('/c', answer(200, { 'cache-control': 'max-age=60' }, 'c'));
    for (const path of ['/a', '/b', '/c']) assert.equal((await c.request(path)).headers['cache-tag'], undefined, `${path} MISS`);
    const hit = await c.request('/a');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['cache-tag'], undefined, 'nor on a hit');
    assert.deepEqual(await purgeTag(c, 'home'), { purged: 1, workers: 1 });
    assert.equal((await c.request('/a')).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/b')).headers['x-cache'], 'HIT');
    assert.deepEqual(await purgeTag(c, 'list'), { purged: 2, workers: 1 }, '/a (stored again) and /b');
    assert.equal((await c.request('/c')).headers['x-cache'], 'HIT', 'untagged responses stay');
    assert.deepEqual(await purgeTag(c, 'list'), { purged: 0, workers: 1 });
  });

  it('purge by tag removes every Vary variant so tagged', async () => {
    const c = await start({});
    c.routes.set('/v', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept-language', 'cache-tag': 'page' }).end(String(req.headers['accept-language']));
    });
    for (const lang of ['en', 'fr', 'de']) await c.request('/v', { headers: { 'accept-language': lang } });
    assert.deepEqual(await purgeTag(c, 'page'), { purged: 3, workers: 1 });
    for (const lang of ['en', 'fr', 'de']) assert.equal((await c.request('/v', { headers: { 'accept-language': lang } })).headers['x-cache'], 'MISS', lang);
  });

  it('tags.header and tags.strip: Surrogate-Key, kept in responses to clients', async () => {
    const c = await start({ tags: { header: 'Surrogate-Key', strip: false } });
    c.routes.set('/s', answer(200, { 'cache-control': 'max-age=60', 'surrogate-key': 'k1 k2', 'cache-tag': 'ignored' }, 's'));
    assert.equal((await c.request('/s')).headers['surrogate-key'], 'k1 k2');
    const hit = await c.request('/s');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['surrogate-key'], 'k1 k2');
    assert.equal(hit.headers['cache-tag'], 'ignored', 'another header is just a header');
    assert.deepEqual(await purgeTag(c, 'ignored'), { purged: 0, workers: 1 });
    assert.deepEqual(await purgeTag(c, 'k2'), { purged: 1, workers: 1 });
  });

  it('RFC 9111 4.3.4: a 304 with tags retags the stored response; one without keeps its tags', async () => {
    const c = await start({});
    let tags: string | undefined = 'old';
    c.routes.set('/r', (req, res) => {
      req.resume();
      const headers: Record<string, string> = { 'cache-control': 'max-age=10', etag: '"1"', ...(tags ? { 'cache-tag': tags } : {}) };
      if (req.headers['if-none-match'] === '"1"') res.writeHead(304, headers).end();
      else res.writeHead(200, headers).end('r');
    });
    await c.request('/r');
    c.advance(20_000);
    tags = 'new';
    const revalidated = await c.request('/r');
    assert.equal(revalidated.headers['x-cache'], 'REVALIDATED');
    assert.equal(revalidated.headers['cache-tag'], undefined, "the 304's tag header is not passed on");
    assert.equal((await c.request('/r')).headers['cache-tag'], undefined, 'nor stored');
    assert.deepEqual(await purgeTag(c, 'old'), { purged: 0, workers: 1 });
    assert.deepEqual(await purgeTag(c, 'new'), { purged: 1, workers: 1 });
    await c.request('/r');
    c.advance(20_000);
    tags = undefined;
    assert.equal((await c.request('/r')).headers['x-cache'], 'REVALIDATED');
    assert.deepEqual(await purgeTag(c, 'new'), { purged: 1, workers: 1 }, 'kept its tags');
  });

  it('the tag index is bounded with the entries: an evicted response leaves it', async () => {
    const c = await start({ max_size: '10k', max_object_size: '4k' });
    for (const name of ['a', 'b', 'c', 'd'])
      c.routes.set(`/${name}`, answer(200, { 'cache-control': 'max-age=60', 'cache-tag': `only-${name} all` }, name.repeat(3000)));
    for (const name of ['a', 'b', 'c', 'd']) await c.request(`/${name}`);
    const stats = (await c.admin('/cache/stats')).body.workers[0].caches[0];
    assert.equal(stats.entries, 3, '/a left to make room for /d');
    assert.equal(stats.tags, 4, 'only-b, only-c, only-d and all');
    assert.deepEqual(await purgeTag(c, 'only-a'), { purged: 0, workers: 1 });
    assert.deepEqual(await purgeTag(c, 'all'), { purged: 3, workers: 1 });
    assert.equal((await c.admin('/cache/stats')).body.workers[0].caches[0].tags, 0);
  });

  it('MemoryStore: replacing, deleting, evicting and refusing an entry all keep the tag index exact', async () => {
    const store = new MemoryStore<{ v: number }>(100);
    await store.set('k1', { v: 1 }, 40, ['x', 'y']);
    await store.set('k2', { v: 2 }, 40, ['y']);
    assert.deepEqual((await store.tagged('y')).sort(), ['k1', 'k2']);
    await store.set('k1', { v: 3 }, 40, ['z']);
    assert.deepEqual(await store.tagged('x'), [], 'replaced without the tag');
    assert.deepEqual(await store.tagged('y'), ['k2']);
    await store.set('k3', { v: 4 }, 40, ['y']); // k2 is the least recently used: evicted
    assert.deepEqual(await store.tagged('y'), ['k3']);
    await store.delete('k3');
    assert.deepEqual(await store.tagged('y'), []);
    await store.set('huge', { v: 5 }, 1000, ['h']);
    assert.deepEqual(await store.tagged('h'), [], 'larger than the store: refused, not indexed');
    assert.equal(store.tags, 1);
    store.clear();
    assert.equal(store.tags, 0);
  });
});
