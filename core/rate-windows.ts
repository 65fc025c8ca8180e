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

/** A take that may also lease units to the asker (see `lease`). */
export interface Grant extends TakeResult {
  /** Units taken beyond `cost` for the asker to spend on its own until the window ends; 0 when refused. */
  lease: number;
  /** The fixed window the lease belongs to (its start, Date.now() ms): it ends at `windowStart + window`. */
  windowStart: number;
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
    const { lease: _, windowStart: __, ...result } = this.lease(key, o, 0);
    return result;
  }

  /**
   * A take that, when allowed, also counts a lease of `share` of what is left after it
   * (rounded down: near the limit none, so each ask takes one `cost`, as `take` does). The
   * leased units are counted as taken at once, so whoever spends them can never let the
   * units allowed exceed `limit`. `remaining` and `reset` count them as taken too.
   */
  lease(key: string, o: TakeOptions, share: number): Grant {
    const cost = o.cost ?? 1;
    const now = this.now();
    const cell = this.#cell(key, o.window, now);
    const elapsed = now - cell.windowStart;
    const used = cell.previous * (1 - elapsed / o.window) + cell.current;
    const windowEnd = o.window - elapsed;
    if (used + cost <= o.limit) {
      const lease = Math.floor((o.limit - used - cost) * share);
      cell.current += cost + lease;
      const remaining = Math.max(0, Math.floor(o.limit - used - cost - lease));
      // Nothing left: `reset` (RateLimit's `t`) must not come before the next `cost` fits.
      const reset = remaining > 0 ? windowEnd : Math.max(windowEnd, waitFor(cell, elapsed, o.window, o.limit, cost));
      return { allowed: true, remaining, retryAfter: 0, reset, lease, windowStart: cell.windowStart };
    }
    const retryAfter = waitFor(cell, elapsed, o.window, o.limit, cost);
    return { allowed: false, remaining: 0, retryAfter, reset: Math.max(windowEnd, retryAfter), lease: 0, windowStart: cell.windowStart };
  }

  /**
   * Uncounts `units` leased in the window that began at `windowStart` and never spent: from
   * the current window, or from the previous one's weight once it has turned; older ones
   * no longer count anyway.
   */
  giveBack(key: string, units: number, windowStart: number, window: number): void {
    const cell = this.#cells.get(key);
    if (!cell || units <= 0) return;
    this.#turn(cell, window, this.now());
    if (cell.windowStart === windowStart) cell.current = Math.max(0, cell.current - units);
    else if (cell.windowStart - window === windowStart) cell.previous = Math.max(0, cell.previous - units);
  }

  /** The start of `key`'s current fixed window (as of now). */
  windowStart(window: number): number {
    const now = this.now();
    return now - (now % window);
  }

  #cell(key: string, window: number, now: number): Cell {
    let cell = this.#cells.get(key);
    if (!cell) this.#cells.set(key, (cell = { windowStart: now - (now % window), current: 0, previous: 0 }));
    this.#turn(cell, window, now);
    return cell;
  }

  #turn(cell: Cell, window: number, now: number): void {
    const start = now - (now % window);
    if (cell.windowStart === start) return;
    // One window later: the current becomes the previous; more: both are empty.
    cell.previous = start - cell.windowStart === window ? cell.current : 0;
    cell.current = 0;
    cell.windowStart = start;
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
