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
    assert.ok(refused.retryAfter > 0 && refused.retryAfter <= 1000, String(refused.retryAfter));
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
});
