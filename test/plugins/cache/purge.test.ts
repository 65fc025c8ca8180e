// Purges through the stats listener (POST /cache/purge) and the PURGE method, the
// listing and counts beside them, and several caches (frontend and routes) each purging
// their own store. Across two worker processes: workers.test.ts.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: purge through the admin API', () => {
  let c: CacheFixture;
  let host: string;
  before(async () => {
    c = await startCache({ purge: { enabled: true } }, { stats: true });
    host = `127.0.0.1:${c.gw.port()}`;
  });
  after(() => c.close());

  const stored = async (...paths: string[]) => {
    for (const path of paths) {
      if (!c.routes.has(path.split('?')[0]!)) c.routes.set(path.split('?')[0]!, versioned({ 'cache-control': 'max-age=60' }));
      await c.request(path);
      assert.equal((await c.request(path)).headers['x-cache'], 'HIT', path);
    }
  };
  const state = async (path: string) => (await c.request(path)).headers['x-cache'];

  it('{"url"}: drops one URL, every variant, and answers how many responses in how many workers', async () => {
    await stored('/u/1', '/u/2', '/u/1?page=2');
    const r = await c.admin('/cache/purge', { method: 'POST', body: { url: `http://${host}/u/1` } });
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, { purged: 1, workers: 1 });
    assert.equal(await state('/u/1'), 'MISS');
    assert.equal(await state('/u/2'), 'HIT');
    assert.equal(await state('/u/1?page=2'), 'HIT', 'the query is part of the URL');
    assert.deepEqual((await c.admin('/cache/purge', { method: 'POST', body: { url: `http://${host}/u/1?page=2` } })).body, { purged: 1, workers: 1 });
  });

  it('{"host", "path"}: the same, with the host as clients send it', async () => {
    await stored('/h/1');
    assert.deepEqual((await c.admin('/cache/purge', { method: 'POST', body: { host: host.toUpperCase(), path: '/h/1' } })).body, { purged: 1, workers: 1 });
    assert.equal(await state('/h/1'), 'MISS');
    assert.deepEqual(
      (await c.admin('/cache/purge', { method: 'POST', body: { host: 'other.example', path: '/h/1' } })).body,
      { purged: 0, workers: 1 },
      'another host is another URL',
    );
  });

  it('a trailing * purges every URL starting so, as PURGE /prefix* does', async () => {
    await stored('/pre/a', '/pre/b?x=1', '/prefix-not-under', '/keep/pre/c');
    assert.deepEqual((await c.admin('/cache/purge', { method: 'POST', body: { host, path: '/pre/*' } })).body, { purged: 2, workers: 1 });
    assert.equal(await state('/pre/a'), 'MISS');
    assert.equal(await state('/pre/b?x=1'), 'MISS');
    assert.equal(await state('/prefix-not-under'), 'HIT');
    assert.equal(await state('/keep/pre/c'), 'HIT');
    assert.deepEqual(
      (await c.admin('/cache/purge', { method: 'POST', body: { url: `http://${host}/pre*` } })).body,
      { purged: 3, workers: 1 },
      '/pre/a, /pre/b?x=1 (stored again) and /prefix-not-under',
    );
  });

  it('PURGE on the frontend answers in the same shape', async () => {
    await stored('/m/1');
    const r = await c.request('/m/1', { method: 'PURGE' });
    assert.deepEqual(JSON.parse(r.body), { purged: 1, workers: 1 });
  });

  it('says what is wrong with a purge request', async () => {
    const bad = async (body: unknown) => c.admin('/cache/purge', { method: 'POST', body });
    for (const body of [
      'not json',
      [],
      {},
      { url: 'nope' },
      { url: 'ftp://x/y' },
      { host, path: 'no-slash' },
      { tag: 'two tags' },
      { url: `http://${host}/`, tag: 't' },
      { uri: '/x' },
    ]) {
      const r = await bad(body);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match(r.body.error, /expected|not a URL|unknown field/);
    }
    assert.equal((await c.admin('/cache/purge')).status, 405);
  });

  it('GET /cache/stats counts responses and bytes per cache and worker; /cache/entries lists them', async () => {
    await c.admin('/cache/purge', { method: 'POST', body: { host, path: '/*' } });
    c.routes.set('/listed', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept', 'cache-tag': 'list' }).end(`for ${req.headers.accept}`);
    });
    await c.request('/listed', { headers: { accept: 'a/a' } });
    await c.request('/listed', { headers: { accept: 'b/b' } });
    await stored('/other');
    const stats = (await c.admin('/cache/stats')).body;
    assert.equal(stats.entries, 3, 'two variants and /other');
    assert.equal(stats.workers.length, 1);
    assert.equal(stats.workers[0].pid, process.pid);
    assert.deepEqual(
      stats.workers[0].caches.map((x: { cache: string; entries: number; tags: number }) => [x.cache, x.entries, x.tags]),
      [['web', 3, 1]],
    );
    assert.ok(stats.bytes > 0);

    c.advance(10_000);
    const listed = (await c.admin(`/cache/entries?prefix=${encodeURIComponent(`${host}/listed`)}`)).body.workers[0].entries;
    assert.deepEqual(
      listed
        .map((e: any) => [e.key, e.variant, e.status, e.age_s, e.fresh_s, e.bytes, e.tags])
        .sort((a: any, b: any) => a[1].accept.localeCompare(b[1].accept)),
      [
        [`${host}/listed`, { accept: 'a/a' }, 200, 10, 50, 7, ['list']],
        [`${host}/listed`, { accept: 'b/b' }, 200, 10, 50, 7, ['list']],
      ],
    );
    assert.equal((await c.admin('/cache/entries?tag=list')).body.workers[0].entries.length, 2);
    assert.equal((await c.admin('/cache/entries?limit=1')).body.workers[0].entries.length, 1);
    assert.equal((await c.admin('/cache/entries?limit=0')).status, 400);
  });
});

describe('cache: purges reach every cache instance', () => {
  it('a frontend cache and two route caches each purge what they hold', async () => {
    const route = (name: string) => ({ name, match: { path: `/${name}/` }, plugins: [{ use: 'cache', options: { ttl: '30s' } }] });
    const c = await startCache({ purge: { enabled: true } }, { stats: true, routes: [route('r1'), route('r2')] });
    try {
      const host = `127.0.0.1:${c.gw.port()}`;
      for (const path of ['/r1/x', '/r2/x', '/top']) {
        c.routes.set(path, versioned({ 'cache-control': 'max-age=60', 'cache-tag': 'all' }));
        await c.request(path);
      }
      // A route's requests also pass the frontend's cache: /r1/x and /r2/x are held twice.
      const caches = (await c.admin('/cache/stats')).body.workers[0].caches.map((x: { cache: string; entries: number }) => [x.cache, x.entries]);
      assert.deepEqual(caches, [
        ['web', 3],
        ['web/r1', 1],
        ['web/r2', 1],
      ]);
      assert.deepEqual((await c.admin('/cache/purge', { method: 'POST', body: { host, path: '/r1/x' } })).body, { purged: 2, workers: 1 });
      assert.deepEqual((await c.admin('/cache/purge', { method: 'POST', body: { tag: 'all' } })).body, { purged: 3, workers: 1 });
      assert.equal((await c.admin('/cache/stats')).body.entries, 0);
      for (const path of ['/r1/x', '/r2/x', '/top']) assert.equal((await c.request(path)).body, 'v2', path);
    } finally {
      await c.close();
    }
  });

  it('stats.admin: false makes the listener read-only: no purge, listings still answer', async () => {
    const c = await startCache({}, { stats: { admin: false } });
    try {
      const r = await c.admin('/cache/purge', { method: 'POST', body: { tag: 'x' } });
      assert.equal(r.status, 403);
      assert.equal((await c.admin('/cache/stats')).status, 200);
    } finally {
      await c.close();
    }
  });
});
