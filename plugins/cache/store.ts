// Where cached responses live. The cache logic only uses this interface, so a store
// shared between workers or gateways (Redis, say) can replace the in-memory one without
// touching it. Every call may be asynchronous for that reason; `get`, on every request's
// path, answers at once when it can (the memory store always does).
import { LRUCache } from 'lru-cache';
import type { Eventually } from '../../sdk/index.ts';

export interface CacheStore<V> {
  get(key: string): Eventually<V | undefined>;
  /** Like `get`, without counting as a use (listings). */
  peek(key: string): Promise<V | undefined>;
  /** `size` is the value's weight in bytes, counted against the store's bound; `tags` index it for `tagged`. */
  set(key: string, value: V, size: number, tags?: readonly string[]): Promise<void>;
  delete(key: string): Promise<boolean>;
  /** Every stored key starting with `prefix` (purge by prefix, listings; not on the request path). */
  keys(prefix: string): Promise<string[]>;
  /** Every stored key set with `tag` (purge by tag). */
  tagged(tag: string): Promise<string[]>;
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
  /** tag → keys, and key → its tags: entries leave the index whenever they leave the store. */
  readonly #byTag = new Map<string, Set<string>>();
  readonly #tagsOf = new Map<string, readonly string[]>();

  constructor(maxBytes: number, events: MemoryStoreEvents = {}) {
    this.#events = events;
    this.#lru = new LRUCache<string, V>({
      maxSize: maxBytes,
      // An entry larger than the whole store is refused rather than emptying it.
      maxEntrySize: maxBytes,
      dispose: (_value, key, reason) => {
        this.#unindex(key);
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

  /** Distinct tags indexed now. */
  get tags(): number {
    return this.#byTag.size;
  }

  get(key: string): V | undefined {
    return this.#lru.get(key);
  }

  async peek(key: string): Promise<V | undefined> {
    return this.#lru.peek(key);
  }

  async set(key: string, value: V, size: number, tags: readonly string[] = []): Promise<void> {
    this.#unindex(key);
    this.#lru.set(key, value, { size: Math.max(1, size) });
    if (tags.length && this.#lru.has(key)) {
      this.#tagsOf.set(key, tags);
      for (const tag of tags) {
        let keys = this.#byTag.get(tag);
        if (!keys) this.#byTag.set(tag, (keys = new Set()));
        keys.add(key);
      }
    }
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

  async tagged(tag: string): Promise<string[]> {
    return [...(this.#byTag.get(tag) ?? [])];
  }

  clear(): void {
    this.#lru.clear();
    this.#byTag.clear();
    this.#tagsOf.clear();
  }

  #unindex(key: string): void {
    const tags = this.#tagsOf.get(key);
    if (!tags) return;
    this.#tagsOf.delete(key);
    for (const tag of tags) {
      const keys = this.#byTag.get(tag);
      keys?.delete(key);
      if (keys?.size === 0) this.#byTag.delete(tag);
    }
  }
}
