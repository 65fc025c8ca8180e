// Purges under a real master with two workers: each worker has its own cache, and a
// purge (the admin API or the PURGE method, whichever worker takes it) reaches both.
// Both caches are filled first: the origin sees each URL once per worker (a long
// max-age, so a worker never asks twice), and /cache/stats confirms what each holds.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestMaster, type TestMaster, type TestOrigin } from 'tapgate/sdk/testing';

/** Paths the origin serves, and the tags it gives them. */
const paths: Record<string, string> = {
  '/one/1': 'a',
  '/one/2': 'a',
  '/pre/1': 'b',
  '/pre/2': 'b',
  '/tagged/1': 'news',
  '/tagged/2': 'news sport',
  '/method/1': 'c',
  '/keep': 'd',
};

describe('cache: purges across two workers', () => {
  let origin: TestOrigin;
  let master: TestMaster;
  let web: number;
  let stats: number;
  before(async () => {
    master = await createTestMaster({
      config: {
        workers: 2,
        log: { level: 'warn', access: false },
        hard_stop_after: '5s',
        stats: { bind: '127.0.0.1:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'cache', options: { purge: { enabled: true } } }] } },
        backends: { app: { servers: [{ name: 'o', address: 'origin:origin' }] } },
      },
      origins: {
        origin: (req, res) => {
          req.resume();
          const tags = paths[req.url!];
          if (!tags) return void res.writeHead(404, { 'cache-control': 'no-store' }).end();
          res.writeHead(200, { 'cache-control': 'max-age=600', 'cache-tag': tags }).end(req.url);
        },
      },
    });
    origin = master.origins.origin!;
    web = master.port();
    stats = master.statsPort!;
  });
  after(() => master?.close());

  /** One request on a connection of its own (so either worker may take it). */
  const get = async (path: string, method = 'GET') => {
    const res = await master.request({ path, method, fresh: true });
    return { status: res.status, body: res.body, cache: res.headers['x-cache'] as string | undefined };
  };
  const admin = async (path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${stats}${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  };
  /** Entries held by each worker's cache, by pid. */
  const held = async () => {
    const { body } = await admin('/cache/stats');
    return Object.fromEntries(body.workers.map((w: { pid: number; caches: { entries: number }[] }) => [w.pid, w.caches[0]!.entries]));
  };
  /** Requests on new connections, several at once, until both workers have fetched (and stored) every path. */
  const fillBothCaches = async () => {
    const seen = (path: string) => origin.requests.filter((r) => r.url === path).length;
    for (let round = 0; Object.keys(paths).some((p) => seen(p) < 2); round++) {
      assert.ok(round < 200, `both workers filled within 200 rounds (origin saw ${Object.keys(paths).map(seen)})`);
      await Promise.all(
        Object.keys(paths)
          .filter((p) => seen(p) < 2)
          .flatMap((p) => [get(p), get(p), get(p)]),
      );
    }
    // Stored once the body has gone out: give a late store a moment.
    for (let i = 0; Object.values(await held()).some((n) => n !== Object.keys(paths).length); i++) {
      assert.ok(i < 100, `both caches hold every path: ${JSON.stringify(await held())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('GET /cache/stats answers for both workers; each holds every path once filled', async () => {
    await fillBothCaches();
    const { body } = await admin('/cache/stats');
    assert.equal(body.workers.length, 2);
    assert.equal(new Set(body.workers.map((w: { pid: number }) => w.pid)).size, 2);
    assert.equal(body.entries, 2 * Object.keys(paths).length);
    for (const path of Object.keys(paths)) assert.equal(origin.requests.filter((r) => r.url === path).length, 2, `${path}: once per worker`);
  });

  it('a purge by URL through the admin API reaches both workers', async () => {
    assert.deepEqual((await admin('/cache/purge', { url: `http://127.0.0.1:${web}/one/1` })).body, { purged: 2, workers: 2 });
  });

  it('a purge by prefix reaches both workers', async () => {
    assert.deepEqual((await admin('/cache/purge', { host: `127.0.0.1:${web}`, path: '/pre/*' })).body, { purged: 4, workers: 2 });
  });

  it('a purge by tag reaches both workers', async () => {
    assert.deepEqual((await admin('/cache/purge', { tag: 'news' })).body, { purged: 4, workers: 2 });
  });

  it('the PURGE method reaches both workers, whichever takes it', async () => {
    const r = await get('/method/1', 'PURGE');
    assert.equal(r.status, 200);
    assert.deepEqual(JSON.parse(r.body), { purged: 2, workers: 2 });
  });

  it('what was not purged is still held by both; what was is fetched again', async () => {
    const left = Object.keys(paths).length - 6;
    assert.deepEqual(Object.values(await held()), [left, left]);
    const before = origin.requests.length;
    assert.equal((await get('/one/1')).cache, 'MISS');
    assert.equal(origin.requests.length, before + 1);
    assert.equal((await admin(`/cache/entries?prefix=${encodeURIComponent(`127.0.0.1:${web}/keep`)}`)).body.workers.length, 2);
  });
});
