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
    const overlap = 1 - (now - start) / o.window;
    const used = cell.previous * overlap + cell.current;
    const reset = start + o.window - now;
    if (used + cost <= o.limit) {
      cell.current += cost;
      return { allowed: true, remaining: Math.max(0, Math.floor(o.limit - used - cost)), retryAfter: 0, reset };
    }
    // Refused: when will the previous window's weight have shrunk enough (or the window turned)?
    const excess = used + cost - o.limit;
    const retryAfter = cell.previous > 0 && cell.current + cost <= o.limit ? Math.ceil((excess / cell.previous) * o.window) : reset;
    return { allowed: false, remaining: 0, retryAfter: Math.min(retryAfter, reset + o.window), reset };
  }
}
