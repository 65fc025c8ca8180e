// Rate-limit windows behind `api.take`: "take `cost` from a budget of `limit` per `window` under this
// key", decided in one place for every worker (the master; alone, this process), so N
// workers do not allow N times a limit. A sliding window estimated from two fixed ones
// (the previous window's count weighted by how much of it still overlaps), as
// Cloudflare and nginx-style limiters do: O(1) memory per key.
import { LRUCache } from 'lru-cache';
import type { TakeOptions, TakeResult } from '../sdk/index.ts';

interface Cell {
  windowStart: number;
  current: number;
  previous: number;
}

export class WindowCounters {
  readonly #cells: LRUCache<string, Cell>;

  constructor(
    maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.#cells = new LRUCache({ max: maxKeys });
  }

  take(key: string, o: TakeOptions): TakeResult {
    const cost = o.cost ?? 1;
    const now = this.now();
    const start = now - (now % o.window);
    let cell = this.#cells.get(key);
    if (!cell) this.#cells.set(key, (cell = { windowStart: start, current: 0, previous: 0 }));
    if (cell.windowStart !== start) {
      // One window later: the current becomes the previous; more: both are empty.
      cell.previous = start - cell.windowStart === o.window ? cell.current : 0;
      cell.current = 0;
      cell.windowStart = start;
    }
    const elapsed = now - start;
    const used = cell.previous * (1 - elapsed / o.window) + cell.current;
    const windowEnd = o.window - elapsed;
    if (used + cost <= o.limit) {
      cell.current += cost;
      const remaining = Math.max(0, Math.floor(o.limit - used - cost));
      // Nothing left: `reset` (RateLimit's `t`) must not come before the next `cost` fits.
      const reset = remaining > 0 ? windowEnd : Math.max(windowEnd, waitFor(cell, elapsed, o.window, o.limit, cost));
      return { allowed: true, remaining, retryAfter: 0, reset };
    }
    const retryAfter = waitFor(cell, elapsed, o.window, o.limit, cost);
    return { allowed: false, remaining: 0, retryAfter, reset: Math.max(windowEnd, retryAfter) };
  }
}

/**
 * ms from now (`elapsed` into the current window) until `cost` fits, if nothing more is
 * counted: never sooner than the decision above would allow it, and the first whole ms
 * that it does. The estimate only falls as time passes (at a window's end the current
 * count becomes the previous one, at full weight), so the moment is in this window or
 * the next; each candidate is checked with the same formula that decides. A `cost`
 * above `limit` never fits: the answer is then the end of the next window.
 */
function waitFor(cell: Cell, elapsed: number, window: number, limit: number, cost: number): number {
  const fits = (previous: number, current: number, at: number) => previous * (1 - at / window) + current + cost <= limit;
  if (cell.current + cost <= limit) {
    // In this window, as the previous window's weight shrinks (at its end it weighs nothing).
    let at = cell.previous > 0 ? Math.max(elapsed, Math.ceil(window * (1 - (limit - cell.current - cost) / cell.previous))) : elapsed;
    while (at < window && !fits(cell.previous, cell.current, at)) at++;
    return at - elapsed;
  }
  // In the next window, where this window's count weighs as the previous; two windows on, nothing counts.
  let at = cost <= limit ? Math.max(0, Math.ceil(window * (1 - (limit - cost) / cell.current))) : window;
  while (at < window && !fits(cell.current, 0, at)) at++;
  return window - elapsed + at;
}
