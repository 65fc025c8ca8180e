// The shared store under a real master with two workers: one budget for both, kept
// across a reload. (The local store counts per worker; how the kernel spreads
// connections over workers is not even enough to test that exactly.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestMaster, type TestMaster } from 'tapgate/sdk/testing';

describe('rate-limit across two workers', () => {
  let master: TestMaster;
  let plain: number;
  let reloaded: number;
  before(async () => {
    const limited = { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'rate-limit', options: { limit: 10, window: '1h' } }] };
    master = await createTestMaster({
      config: {
        workers: 2,
        hard_stop_after: '5s',
        frontends: { plain: limited, reloaded: limited },
        backends: { app: { servers: [{ name: 'a', address: 'origin:a' }] } },
      },
      origins: { a: 'name' },
    });
    [plain, reloaded] = [master.port('plain'), master.port('reloaded')];
  });
  after(() => master?.close());

  /** `n` requests, each on a new connection (so both workers take some). */
  const hit = async (port: number, n: number) => {
    const statuses: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
    return statuses;
  };
  const passed = (statuses: number[]) => statuses.filter((s) => s === 200).length;

  it('the shared store holds a limit of 10 across both workers: exactly 10 of 30 pass', async () => {
    assert.equal((await master.status()).workers.length, 2);
    const statuses = await hit(plain, 30);
    assert.equal(passed(statuses), 10, statuses.join(' '));
    assert.deepEqual(statuses.slice(10), Array(20).fill(429), 'the first 10 pass, every later one is refused');
  });

  it('and across a reload: 5 before it, 5 of the 25 after', async () => {
    const before = await hit(reloaded, 5);
    assert.equal((await master.reload()).ok, true);
    const after = await hit(reloaded, 25);
    assert.equal(passed(before), 5);
    assert.equal(passed(after), 5, `after the reload: ${after.join(' ')}`);
  });
});
