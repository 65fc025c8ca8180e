// The cache says in each request's access-log line what it did: `cache: HIT`, `MISS`,
// `STALE` or `REVALIDATED`, as its status header does.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';

/** The access log is written once the response has finished on the gateway's side: a little after the client has it. */
async function lines(t: TestGateway, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200 && t.logs.length < n; i++) await sleep(5);
  assert.equal(t.logs.length, n, JSON.stringify(t.logs));
  return t.logs;
}

describe('cache in the access log', () => {
  it('logs MISS, then HIT, then STALE once the entry is past its age', async () => {
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['cache'] } },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: {
        app: (_req, res) => {
          res.writeHead(200, { 'cache-control': 'max-age=1', 'content-type': 'text/plain' });
          res.end('kept');
        },
      },
    });
    try {
      assert.equal((await t.request('/page')).headers['x-cache'], 'MISS');
      await lines(t, 1);
      assert.equal((await t.request('/page')).headers['x-cache'], 'HIT');
      await lines(t, 2);
      t.clock.advance(5_000);
      // Past max-age; the client's max-stale takes the stale copy.
      assert.equal((await t.request({ path: '/page', headers: { 'cache-control': 'max-stale=60' } })).headers['x-cache'], 'STALE');
      const logged = (await lines(t, 3)).map((l) => l.cache);
      assert.deepEqual(logged, ['MISS', 'HIT', 'STALE']);
    } finally {
      await t.close();
    }
  });
});
