// Where cached responses live. The cache logic only uses this interface, so a store
// shared between workers or gateways (Redis, say) can replace the in-memory one without
// touching it. Every call may be asynchronous for that reason.
import { LRUCache } from 'lru-cache';

export interface CacheStore<V> {
  get(key: string): Promise<V | undefined>;
  /** `size` is the value's weight in bytes, counted against the store's bound. */
  set(key: string, value: V, size: number): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Every stored key starting with `prefix` (purge by prefix; not on the request path). */
  keys(prefix: string): Promise<string[]>;
}

export interface MemoryStoreEvents {
  /** An entry left to make room for others (not a delete or a replacement). */
  evicted?(key: string): void;
  /** Bytes held changed. */
  resized?(bytes: number): void;
}

/** A least-recently-used store in this process, bounded by the bytes it holds. */
export class MemoryStore<V extends object> implements CacheStore<V> {
  readonly #lru: LRUCache<string, V>;
  readonly #events: MemoryStoreEvents;

  constructor(maxBytes: number, events: MemoryStoreEvents = {}) {
    this.#events = events;
    this.#lru = new LRUCache<string, V>({
      maxSize: maxBytes,
      // An entry larger than the whole store is refused rather than emptying it.
      maxEntrySize: maxBytes,
      dispose: (_value, key, reason) => {
        if (reason === 'evict') this.#events.evicted?.(key);
      },
    });
  }

  /** Bytes held now. */
  get bytes(): number {
    return this.#lru.calculatedSize;
  }

  get entries(): number {
    return this.#lru.size;
  }

  async get(key: string): Promise<V | undefined> {
    return this.#lru.get(key);
  }

  async set(key: string, value: V, size: number): Promise<void> {
    this.#lru.set(key, value, { size: Math.max(1, size) });
    this.#events.resized?.(this.#lru.calculatedSize);
  }

  async delete(key: string): Promise<boolean> {
    const had = this.#lru.delete(key);
    if (had) this.#events.resized?.(this.#lru.calculatedSize);
    return had;
  }

  async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    for (const key of this.#lru.keys()) if (key.startsWith(prefix)) out.push(key);
    return out;
  }

  clear(): void {
    this.#lru.clear();
  }
}
