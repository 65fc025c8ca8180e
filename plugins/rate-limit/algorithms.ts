// The two ways of counting, as pure functions over one client's cell, so the local
// store runs them in memory and the Redis store's Lua scripts mirror them line for line.

/** What a store answers for one request: the shape of `api.take`'s result. */
export interface Decision {
  allowed: boolean;
  /** Requests left after this one (0 when refused). */
  remaining: number;
  /** ms until the request would fit (0 when allowed). */
  retryAfter: number;
  /** ms until the budget is whole again, or the current window ends (the draft's effective window). */
  reset: number;
}

/** How much a client may do: `limit` per `window` ms, or a bucket of `burst` refilled at `rate` per ms. */
export type Policy = { algorithm: 'sliding_window'; limit: number; window: number } | { algorithm: 'token_bucket'; rate: number; burst: number };

/** Two fixed windows, the older one weighted by how much of it still overlaps: O(1) per key (as api.take counts). */
export interface WindowCell {
  start: number;
  current: number;
  previous: number;
}

export function slidingWindow(cell: WindowCell, now: number, limit: number, window: number): Decision {
  const start = now - (now % window);
  if (cell.start !== start) {
    cell.previous = start - cell.start === window ? cell.current : 0;
    cell.current = 0;
    cell.start = start;
  }
  const used = cell.previous * (1 - (now - start) / window) + cell.current;
  const reset = start + window - now;
  if (used + 1 <= limit) {
    cell.current += 1;
    return { allowed: true, remaining: Math.max(0, Math.floor(limit - used - 1)), retryAfter: 0, reset };
  }
  // When will the previous window's weight have shrunk enough (or the window turned)?
  const retryAfter = cell.previous > 0 && cell.current + 1 <= limit ? Math.ceil(((used + 1 - limit) / cell.previous) * window) : reset;
  return { allowed: false, remaining: 0, retryAfter: Math.min(retryAfter, reset + window), reset };
}

/** A bucket of at most `burst` tokens, refilled continuously at `rate` tokens per ms; a request takes one. */
export interface BucketCell {
  tokens: number;
  at: number;
}

export function tokenBucket(cell: BucketCell, now: number, rate: number, burst: number): Decision {
  cell.tokens = Math.min(burst, cell.tokens + Math.max(0, now - cell.at) * rate);
  cell.at = now;
  if (cell.tokens >= 1) {
    cell.tokens -= 1;
    return { allowed: true, remaining: Math.floor(cell.tokens), retryAfter: 0, reset: Math.ceil((burst - cell.tokens) / rate) };
  }
  return { allowed: false, remaining: 0, retryAfter: Math.ceil((1 - cell.tokens) / rate), reset: Math.ceil((burst - cell.tokens) / rate) };
}
