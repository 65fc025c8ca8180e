// Shared window counters: a sliding window from two fixed ones, on a fake clock.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WindowCounters } from '../../core/rate-windows.ts';

describe('WindowCounters', () => {
  it('allows `limit` per window, then refuses with a retry time, and slides', () => {
    let now = 1_000_000;
    const c = new WindowCounters(100, () => now);
    const o = { limit: 5, window: 1000 };
    const first = Array.from({ length: 7 }, () => c.take('k', o).allowed);
    assert.deepEqual(first, [true, true, true, true, true, false, false]);
    const refused = c.take('k', o);
    assert.equal(refused.remaining, 0);
    // The window's end, then a fifth of the next (5 × (1 - 1/5) + 1 = 5); a ms sooner would not fit.
    assert.equal(refused.retryAfter, 1200);
    // Half a window into the next one, half of the previous five still weigh: 2.5 used, 2 more fit.
    now += 1500;
    assert.deepEqual(
      Array.from({ length: 3 }, () => c.take('k', o).allowed),
      [true, true, false],
    );
    // Two windows later, the past no longer counts.
    now += 2000;
    assert.equal(c.take('k', o).remaining, 4);
    assert.equal(c.take('other', o).remaining, 4, 'keys are separate');
  });

  it('a cost larger than what is left is refused without using any of it', () => {
    const c = new WindowCounters(100, () => 0);
    assert.equal(c.take('k', { limit: 10, window: 1000, cost: 8 }).allowed, true);
    assert.equal(c.take('k', { limit: 10, window: 1000, cost: 3 }).allowed, false);
    assert.equal(c.take('k', { limit: 10, window: 1000, cost: 2 }).allowed, true);
  });

  it('a refused take waits exactly retryAfter (rounded up to seconds, as Retry-After) and fits, from any offset and cost', () => {
    let now = 0;
    const c = new WindowCounters(100, () => now);
    const failures: string[] = [];
    for (const cost of [1, 2, 3]) {
      const o = { limit: 7, window: 10_000, cost };
      for (let offset = 0; offset < 10_000; offset += 97) {
        const key = `${cost}/${offset}`;
        now += 20_000 - (now % 10_000) + offset;
        for (let round = 0; round < 3; round++) {
          let d = c.take(key, o);
          while (d.allowed) d = c.take(key, o);
          const seconds = Math.ceil(d.retryAfter / 1000);
          if (d.retryAfter > 10_000 + 10_000 / 2) failures.push(`${key} round ${round}: ${d.retryAfter} ms is longer than any real wait`);
          if (seconds > 1) {
            now += d.retryAfter - 1;
            if (c.take(key, o).allowed) failures.push(`${key} round ${round}: fitted a ms before ${d.retryAfter} ms`);
            now += 1;
          } else now += d.retryAfter;
          now += seconds * 1000 - d.retryAfter;
          if (!c.take(key, o).allowed) failures.push(`${key} round ${round}: refused after waiting ${seconds} s`);
          now += (round * 3_301) % 10_000;
        }
      }
    }
    assert.deepEqual(failures, []);
  });
});
