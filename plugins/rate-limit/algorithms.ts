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
  const elapsed = now - start;
  const used = cell.previous * (1 - elapsed / window) + cell.current;
  const windowEnd = window - elapsed;
  if (used + 1 <= limit) {
    cell.current += 1;
    const remaining = Math.max(0, Math.floor(limit - used - 1));
    // Nothing left: `t` must not come before the next request fits.
    const reset = remaining > 0 ? windowEnd : Math.max(windowEnd, windowWait(cell, elapsed, window, limit));
    return { allowed: true, remaining, retryAfter: 0, reset };
  }
  const retryAfter = windowWait(cell, elapsed, window, limit);
  return { allowed: false, remaining: 0, retryAfter, reset: Math.max(windowEnd, retryAfter) };
}

/**
 * ms from now (`elapsed` into the current window) until one more request fits, if no
 * other is counted: never sooner than `slidingWindow` would allow it, and the first whole
 * ms that it does. The estimate only falls as time passes (at a window's end the current
 * count becomes the previous one, at full weight), so the moment is in this window or
 * the next; each candidate is checked with the formula that decides.
 */
function windowWait(cell: WindowCell, elapsed: number, window: number, limit: number): number {
  const fits = (previous: number, current: number, at: number) => previous * (1 - at / window) + current + 1 <= limit;
  if (cell.current + 1 <= limit) {
    // In this window, as the previous window's weight shrinks (at its end it weighs nothing).
    let at = cell.previous > 0 ? Math.max(elapsed, Math.ceil(window * (1 - (limit - cell.current - 1) / cell.previous))) : elapsed;
    while (at < window && !fits(cell.previous, cell.current, at)) at++;
    return at - elapsed;
  }
  // In the next window, where this window's count weighs as the previous.
  let at = Math.max(0, Math.ceil(window * (1 - (limit - 1) / cell.current)));
  while (at < window && !fits(cell.current, 0, at)) at++;
  return window - elapsed + at;
}

/** A bucket of at most `burst` tokens, refilled continuously at `rate` tokens per ms; a request takes one. */
export interface BucketCell {
  tokens: number;
  at: number;
}

export function tokenBucket(cell: BucketCell, now: number, rate: number, burst: number): Decision {
  // Tokens at `t`, refilled from the last request that took one: a refusal changes nothing,
  // so the wait promised below is computed exactly as the request after it will be.
  const tokensAt = (t: number) => Math.min(burst, cell.tokens + Math.max(0, t - cell.at) * rate);
  const tokens = tokensAt(now);
  if (tokens >= 1) {
    cell.tokens = tokens - 1;
    cell.at = now;
    return { allowed: true, remaining: Math.floor(cell.tokens), retryAfter: 0, reset: Math.ceil((burst - cell.tokens) / rate) };
  }
  // The first whole ms at which a token is back.
  let retryAfter = Math.ceil((1 - tokens) / rate);
  while (tokensAt(now + retryAfter) < 1) retryAfter++;
  while (retryAfter > 1 && tokensAt(now + retryAfter - 1) >= 1) retryAfter--;
  return { allowed: false, remaining: 0, retryAfter, reset: Math.max(retryAfter, Math.ceil((burst - tokens) / rate)) };
}
