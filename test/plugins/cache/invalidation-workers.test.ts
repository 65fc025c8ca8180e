// RFC 9111 4.4 under a real master with two workers: a successful unsafe request,
// whichever worker takes it, invalidates its URL and its same-origin Location and
// Content-Location in both workers' caches before the client has the answer.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestMaster, type TestMaster, type TestOrigin } from 'tapgate/sdk/testing';

/** Paths the origin serves with a long max-age; each answer names the path's version. */
const paths = ['/item', '/created', '/list', '/keep'];

describe('cache: invalidation after unsafe methods across two workers', () => {
  let origin: TestOrigin;
  let master: TestMaster;
  let stats: number;
  let host: string;
  const versions = new Map<string, number>(paths.map((p) => [p, 0]));
  before(async () => {
    master = await createTestMaster({
      config: {
        workers: 2,
        log: { level: 'warn', access: false },
        hard_stop_after: '5s',
        stats: { bind: '127.0.0.1:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'cache' }] } },
        backends: { app: { servers: [{ name: 'o', address: 'origin:origin' }] } },
      },
      origins: {
        origin: (req, res) => {
          req.resume();
          const path = req.url!;
          if (req.method === 'DELETE') return void res.writeHead(409).end();
          if (req.method === 'POST') {
            // The write changes the item and the list; the answer names both.
            for (const p of ['/item', '/list']) versions.set(p, versions.get(p)! + 1);
            return void res.writeHead(201, { location: '/created', 'content-location': `http://${host}/list` }).end();
          }
          if (!versions.has(path)) return void res.writeHead(404, { 'cache-control': 'no-store' }).end();
          res.writeHead(200, { 'cache-control': 'max-age=600' }).end(`${path} v${versions.get(path)}`);
        },
      },
    });
    origin = master.origins.origin!;
    stats = master.statsPort!;
    host = `127.0.0.1:${master.port()}`;
  });
  after(() => master?.close());

  /** One request on a connection of its own (so either worker may take it). */
  const request = async (path: string, method = 'GET') => {
    const res = await master.request({ path, method, fresh: true, ...(method === 'POST' ? { body: 'x' } : {}) });
    return { status: res.status, body: res.body, cache: res.headers['x-cache'] as string | undefined };
  };
  /** The paths each worker's cache holds, one list per worker. */
  const held = async () => {
    const res = await fetch(`http://127.0.0.1:${stats}/cache/entries?prefix=${encodeURIComponent(host)}`);
    const { workers } = (await res.json()) as { workers: { entries: { key: string }[] }[] };
    return workers.map((w) => w.entries.map((e) => e.key.slice(host.length)).sort());
  };
  const fillBothCaches = async () => {
    const seen = (path: string) => origin.requests.filter((r) => r.url === path).length;
    for (let round = 0; paths.some((p) => seen(p) < 2); round++) {
      assert.ok(round < 200, `both workers filled within 200 rounds (origin saw ${paths.map(seen)})`);
      await Promise.all(paths.filter((p) => seen(p) < 2).flatMap((p) => [request(p), request(p), request(p)]));
    }
    // Stored once the body has gone out: give a late store a moment.
    for (let i = 0; (await held()).some((keys) => keys.length !== paths.length); i++) {
      assert.ok(i < 100, `both caches hold every path: ${JSON.stringify(await held())}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('RFC 9111 4.4: a POST through either worker drops the URL, Location and Content-Location in both', async () => {
    await fillBothCaches();
    assert.deepEqual(await held(), [[...paths].sort(), [...paths].sort()]);
    assert.equal((await request('/item', 'POST')).status, 201);
    // Nothing to wait for: the answer came once both workers had invalidated.
    assert.deepEqual(await held(), [['/keep'], ['/keep']]);
  });

  it('RFC 9111 4.4: every GET after it, on whichever worker, gets the new version', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, () => request('/item')));
    for (const r of results) assert.equal(r.body, '/item v1');
    for (const r of await Promise.all(Array.from({ length: 12 }, () => request('/list')))) assert.equal(r.body, '/list v1');
    for (const r of await Promise.all(Array.from({ length: 6 }, () => request('/keep')))) assert.deepEqual([r.body, r.cache], ['/keep v0', 'HIT']);
  });

  it('RFC 9111 4.4: an unsafe request that fails invalidates nothing in either worker', async () => {
    const before = await held();
    assert.ok(before.every((keys) => keys.includes('/keep')));
    assert.equal((await request('/keep', 'DELETE')).status, 409);
    assert.deepEqual(await held(), before);
  });
});
