// The rate-limit plugin says in each request's access-log line what it decided:
// `rate_limit: allowed`, `limited`, or `unkeyed` for a request without its key.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';

async function lines(t: TestGateway, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200 && t.logs.length < n; i++) await sleep(5);
  assert.equal(t.logs.length, n, JSON.stringify(t.logs));
  return t.logs;
}

describe('rate-limit in the access log', () => {
  it('logs allowed, then limited past the budget, and unkeyed for a request it does not count', async () => {
    const t = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            plugins: [{ use: 'rate-limit', options: { key: { header: 'x-user' }, missing: 'allow', limit: '1 per 1m', store: 'local' } }],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'echo' },
    });
    try {
      const as = (user?: string) => t.request({ path: '/', headers: user ? { 'x-user': user } : {} });
      assert.equal((await as('ann')).status, 200);
      assert.equal((await as('ann')).status, 429);
      assert.equal((await as()).status, 200);
      assert.deepEqual(
        (await lines(t, 3)).map((l) => [l.status, l.rate_limit]),
        [
          [200, 'allowed'],
          [429, 'limited'],
          [200, 'unkeyed'],
        ],
      );
    } finally {
      await t.close();
    }
  });
});
