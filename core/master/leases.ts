// `api.take` for a fleet of workers, decided in the master without a message per request.
// A worker's ask takes its request's `cost` and, while there is room, leases it a share of
// what is left in the window (half of it split over the workers), counted as taken at once:
// the worker spends the lease on its own, synchronously, and asks again when it runs out or
// the window turns. Leased units are never counted twice, so the fleet never allows more
// than `limit`. Near the limit the share rounds down to nothing and each ask takes one
// `cost`, as every request did before leases. When an ask does not fit while other workers
// still hold units of the current window, the master recalls them first and decides again,
// so a burst under the limit is never refused for units that sat unspent elsewhere.
import { LRUCache } from 'lru-cache';
import type { TakeOptions } from '../../sdk/index.ts';
import { WindowCounters, type Grant } from '../rate-windows.ts';

/** Units a worker did not spend, handed back: those of the window that began at `windowStart`. */
export interface Returned {
  key: string;
  units: number;
  windowStart: number;
  window: number;
}

export class LeaseBroker {
  readonly #counters: WindowCounters;
  /** By key, the units each worker (by id) was last leased and may still hold: whom to recall. */
  readonly #held: LRUCache<string, Map<number, { units: number; windowStart: number }>>;
  /** Keys whose decisions wait for a recall: asks for them meanwhile are decided after it, in order. */
  readonly #recalling = new Map<string, Promise<unknown>>();

  constructor(
    /** Asks worker `id` to hand back what it holds of `key`; undefined if it cannot answer (gone: its units count as spent). */
    private readonly recall: (id: number, key: string) => Promise<Returned | undefined>,
    /** Workers sharing the budget now: the lease is a share of what is left per worker. */
    private readonly workers: () => number,
    maxKeys = 100_000,
    now: () => number = Date.now,
  ) {
    this.#counters = new WindowCounters(maxKeys, now);
    this.#held = new LRUCache({ max: maxKeys });
  }

  /** Worker `id` asks for `options.cost` under `key`, handing back what it had left (`returned`). */
  ask(id: number, key: string, options: TakeOptions, returned?: Returned): Promise<Grant> {
    if (returned) this.giveBack(id, returned);
    const waiting = this.#recalling.get(key);
    if (waiting) return waiting.then(() => this.ask(id, key, options));
    const grant = this.#decide(id, key, options);
    if (grant.allowed) return Promise.resolve(grant);
    const start = this.#counters.windowStart(options.window);
    const holders = [...(this.#held.get(key) ?? [])].filter(([other, h]) => other !== id && h.units > 0 && h.windowStart === start).map(([other]) => other);
    if (holders.length === 0) return Promise.resolve(grant);
    const recalled = Promise.all(
      holders.map((other) =>
        this.recall(other, key).then((r) => {
          this.#held.get(key)?.delete(other);
          if (r) this.#counters.giveBack(key, r.units, r.windowStart, r.window);
        }),
      ),
    ).then(() => this.#decide(id, key, options));
    this.#recalling.set(key, recalled);
    const done = () => {
      if (this.#recalling.get(key) === recalled) this.#recalling.delete(key);
    };
    recalled.then(done, done);
    return recalled;
  }

  /** Uncounts units a worker did not spend (on its next ask, on a recall, or as it exits). */
  giveBack(id: number, r: Returned): void {
    const held = this.#held.get(r.key)?.get(id);
    if (held && held.windowStart === r.windowStart) held.units = Math.max(0, held.units - r.units);
    this.#counters.giveBack(r.key, r.units, r.windowStart, r.window);
  }

  #decide(id: number, key: string, options: TakeOptions): Grant {
    const grant = this.#counters.lease(key, options, 1 / (2 * Math.max(1, this.workers())));
    if (grant.lease > 0) {
      let byWorker = this.#held.get(key);
      if (!byWorker) this.#held.set(key, (byWorker = new Map()));
      byWorker.set(id, { units: grant.lease, windowStart: grant.windowStart });
    } else this.#held.get(key)?.delete(id);
    return grant;
  }
}
