// Stored responses by cache key, with one entry per variant when the origin sends
// Vary (RFC 9111 4.1). Under a key without Vary lies the response itself; under a key
// with Vary lies a small record of the header names and known variants, each variant
// stored under `key + "\n" + the request's values of those headers`.
import type { Eventually, HttpHeaders } from '../../sdk/index.ts';
import { header, type CachedResponse } from './policy.ts';
import type { CacheStore } from './store.ts';

export interface VaryRecord {
  vary: string[];
  variants: string[];
}
export type Stored = CachedResponse | VaryRecord;

const isVaryRecord = (v: Stored): v is VaryRecord => 'variants' in v;
/** Variants kept per key; beyond this the oldest is dropped (a Vary on a header with unbounded values). */
const maxVariants = 64;

/** The request's values of the Vary headers, normalized; an absent header only matches an absent one. */
function variantOf(names: readonly string[], headers: HttpHeaders): string {
  return JSON.stringify(
    names.map(
      (n) =>
        header(headers, n)
          ?.replace(/\s+/g, ' ')
          .replace(/\s*,\s*/g, ',')
          .trim() ?? null,
    ),
  );
}

function sizeOf(entry: CachedResponse): number {
  let size = entry.body.length + 200;
  for (const name in entry.headers) size += name.length + String(entry.headers[name]).length + 4;
  for (const tag of entry.tags) size += tag.length + 16;
  return size;
}

/** A stored response as a listing shows it: its key, and for a variant the request header values it answers. */
export interface ListedResponse {
  key: string;
  variant?: Record<string, string | null>;
  entry: CachedResponse;
}

export class VariantStore {
  constructor(readonly store: CacheStore<Stored>) {}

  /** At once when the store answers at once (no promise on a request's path). */
  lookup(key: string, req: HttpHeaders): Eventually<CachedResponse | undefined> {
    const found = this.store.get(key);
    return found instanceof Promise ? found.then((f) => this.#variant(key, req, f)) : this.#variant(key, req, found);
  }

  #variant(key: string, req: HttpHeaders, found: Stored | undefined): Eventually<CachedResponse | undefined> {
    if (!found || !isVaryRecord(found)) return found;
    const stored = this.store.get(`${key}\n${variantOf(found.vary, req)}`);
    const response = (s: Stored | undefined) => (s && !isVaryRecord(s) ? s : undefined);
    return stored instanceof Promise ? stored.then(response) : response(stored);
  }

  /** Stores `entry` as the response to `req` under `key`; returns its size in bytes. */
  async save(key: string, req: HttpHeaders, entry: CachedResponse): Promise<number> {
    const size = sizeOf(entry);
    const found = await this.store.get(key);
    if (entry.vary.length === 0) {
      if (found && isVaryRecord(found)) await this.#dropVariants(key, found.variants);
      await this.store.set(key, entry, size, entry.tags);
      return size;
    }
    const variant = variantOf(entry.vary, req);
    let record: VaryRecord;
    if (found && isVaryRecord(found) && found.vary.join() === entry.vary.join()) {
      record = { vary: found.vary, variants: found.variants.includes(variant) ? found.variants : [...found.variants, variant] };
      if (record.variants.length > maxVariants) await this.#dropVariants(key, record.variants.splice(0, record.variants.length - maxVariants));
    } else {
      // The origin changed what it varies on: the old variants no longer answer anything.
      if (found && isVaryRecord(found)) await this.#dropVariants(key, found.variants);
      record = { vary: entry.vary, variants: [variant] };
    }
    await this.store.set(key, record, 64 + record.variants.reduce((n, v) => n + v.length, 0));
    await this.store.set(`${key}\n${variant}`, entry, size, entry.tags);
    return size;
  }

  /** Removes every response stored under `key`, all variants; returns how many. */
  async invalidate(key: string): Promise<number> {
    const found = await this.store.get(key);
    if (!found) return 0;
    let n = 1;
    if (isVaryRecord(found)) n = await this.#dropVariants(key, found.variants);
    await this.store.delete(key);
    return n;
  }

  /** Removes every response whose key starts with `prefix`; returns how many. */
  async invalidatePrefix(prefix: string): Promise<number> {
    let n = 0;
    for (const key of await this.store.keys(prefix)) {
      const found = await this.store.get(key);
      if (found && !isVaryRecord(found) && (await this.store.delete(key))) n++;
      else if (found) await this.store.delete(key);
    }
    return n;
  }

  /** Removes every response stored with `tag`, variants one by one; returns how many. */
  async invalidateTag(tag: string): Promise<number> {
    let n = 0;
    for (const key of await this.store.tagged(tag)) if (await this.store.delete(key)) n++;
    return n;
  }

  /** The responses whose key starts with `prefix` (and tagged `tag`), without touching their recency; at most `limit`. */
  async list(prefix: string, limit: number, tag?: string): Promise<ListedResponse[]> {
    const out: ListedResponse[] = [];
    const keys = tag === undefined ? await this.store.keys(prefix) : (await this.store.tagged(tag)).filter((k) => k.startsWith(prefix));
    for (const stored of keys) {
      if (out.length >= limit) break;
      const entry = await this.store.peek(stored);
      if (!entry || isVaryRecord(entry)) continue;
      const cut = stored.indexOf('\n');
      if (cut === -1) {
        out.push({ key: stored, entry });
        continue;
      }
      const values = JSON.parse(stored.slice(cut + 1)) as (string | null)[];
      out.push({ key: stored.slice(0, cut), variant: Object.fromEntries(entry.vary.map((name, i) => [name, values[i] ?? null])), entry });
    }
    return out;
  }

  async #dropVariants(key: string, variants: readonly string[]): Promise<number> {
    let n = 0;
    for (const v of variants) if (await this.store.delete(`${key}\n${v}`)) n++;
    return n;
  }
}
