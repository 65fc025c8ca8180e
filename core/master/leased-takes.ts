// `api.take` in a worker: spends the units its master leased it (core/master/leases.ts)
// without a message, and asks the master only when they run out or the window turns.
// Concurrent takes of one key that the lease cannot cover wait for one ask, not one each.
//
// What a take answers from a lease: `remaining` is what the master had left when it
// leased (every lease counted as taken) plus this worker's units still unspent, so it
// falls by `cost` per local take. It is exact with one worker; with several it does not
// see what the others spent since (it may be high by their spending until the next ask),
// nor the previous window's weight fading (it may be low). `reset` is the window's end,
// or, when nothing is left, what the master said. A refusal is kept until the
// `retryAfter` the master gave, for takes of the same cost: after a recall nothing is
// held anywhere, so none could fit sooner (only units handed back from the previous window could
// make room a little earlier; refusing meanwhile is on the safe side).
import { LRUCache } from 'lru-cache';
import type { TakeOptions, TakeResult } from '../../sdk/index.ts';
import type { Grant } from '../rate-windows.ts';
import type { Returned } from './leases.ts';

interface Lease {
  units: number;
  windowStart: number;
  window: number;
  limit: number;
  /** What the master had left after leasing (Date.now() ms for the times). */
  remaining: number;
  resetAt: number;
  /** A refusal of `refusedCost` holds until `refusedUntil` (a larger cost may have to wait longer, a smaller one less: those ask). */
  refusedCost: number;
  refusedUntil: number;
}

export class LeasedTakes {
  readonly #leases: LRUCache<string, Lease>;
  readonly #asking = new Map<string, Promise<unknown>>();

  constructor(
    private readonly ask: (key: string, options: TakeOptions, returned: Returned | undefined) => Promise<Grant>,
    maxKeys = 100_000,
    private readonly now: () => number = Date.now,
  ) {
    this.#leases = new LRUCache({ max: maxKeys });
  }

  take(key: string, o: TakeOptions): Promise<TakeResult> {
    const local = this.#spend(key, o);
    if (local) return Promise.resolve(local);
    const asking = this.#asking.get(key);
    if (asking) return asking.then(() => this.take(key, o));
    const lease = this.#leases.get(key);
    const returned = lease ? this.#handBack(key, lease) : undefined;
    const asked = this.ask(key, o, returned).then((g) => {
      const now = this.now();
      this.#leases.set(key, {
        units: g.lease,
        windowStart: g.windowStart,
        window: o.window,
        limit: o.limit,
        remaining: g.remaining,
        resetAt: now + g.reset,
        refusedCost: g.allowed ? Infinity : (o.cost ?? 1),
        refusedUntil: g.allowed ? 0 : now + g.retryAfter,
      });
      return { allowed: g.allowed, remaining: g.allowed ? g.remaining + g.lease : 0, retryAfter: g.retryAfter, reset: g.reset };
    });
    this.#asking.set(key, asked);
    const done = () => this.#asking.delete(key);
    asked.then(done, done);
    return asked;
  }

  /** The master recalls what this worker holds of `key`: from now on it asks again. */
  recall(key: string): Returned | undefined {
    const lease = this.#leases.get(key);
    return lease && this.#handBack(key, lease);
  }

  /** Every unit still held, for the master as this worker exits. */
  unspent(): Returned[] {
    const out: Returned[] = [];
    for (const [key, lease] of this.#leases.entries()) {
      const r = this.#handBack(key, lease);
      if (r) out.push(r);
    }
    return out;
  }

  #spend(key: string, o: TakeOptions): TakeResult | undefined {
    const lease = this.#leases.get(key);
    if (!lease) return undefined;
    // Another budget under the same key: the master decides (and this lease is handed back).
    if (o.window !== lease.window || o.limit !== lease.limit) return undefined;
    const cost = o.cost ?? 1;
    const now = this.now();
    if (cost === lease.refusedCost && now < lease.refusedUntil) {
      const retryAfter = lease.refusedUntil - now;
      return { allowed: false, remaining: 0, retryAfter, reset: Math.max(retryAfter, lease.resetAt - now) };
    }
    const windowEnd = lease.windowStart + lease.window;
    if (lease.units < cost || now >= windowEnd) return undefined;
    lease.units -= cost;
    const remaining = lease.remaining + lease.units;
    return { allowed: true, remaining, retryAfter: 0, reset: remaining > 0 ? windowEnd - now : Math.max(windowEnd - now, lease.resetAt - now) };
  }

  /** Takes back what `lease` holds; units of a window that has ended too (the master uncounts them from that window's weight). */
  #handBack(key: string, lease: Lease): Returned | undefined {
    const units = lease.units;
    lease.units = 0;
    if (units <= 0) return undefined;
    return { key, units, windowStart: lease.windowStart, window: lease.window };
  }
}
