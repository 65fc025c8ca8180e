// Purges and listings that reach every cache: each instance of the plugin (gateway,
// frontend, route) in every worker. A purge (the PURGE method or POST /cache/purge on
// the stats listener) is one `api.broadcast`; in each worker one `app.message` tap (a
// bail hook: one answer per worker) hands it to every instance of the generation, and
// each applies its own key rules to its own store. The message carries nothing
// instance-specific: a URL, a key prefix or a tag.
import type { AdminRequest, GenerationInfo, HttpAnswer, PluginApi } from '../../sdk/index.ts';

/** What to purge: one URL (every variant; each cache applies its own key options), every key starting with `prefix` (host + path), or every response tagged so. */
export type PurgeRequest = { host: string; target: string } | { prefix: string } | { tag: string };

export interface ListFilter {
  prefix: string;
  tag?: string;
  limit: number;
}

export interface CacheSummary {
  /** The instance's metrics label: its frontend, `frontend/route`, or `gateway`. */
  cache: string;
  /** Responses held (each Vary variant counts). */
  entries: number;
  bytes: number;
  /** Distinct tags indexed. */
  tags: number;
}

export interface EntryView {
  cache: string;
  key: string;
  /** For a Vary variant: the request header values it answers. */
  variant?: Record<string, string | null>;
  status: number;
  age_s: number;
  /** Freshness left, in seconds; negative once stale. */
  fresh_s: number;
  /** Body bytes. */
  bytes: number;
  tags: string[];
}

/** One cache instance, as the broadcast handlers see it. */
export interface CacheInstance {
  purge(request: PurgeRequest): Promise<number>;
  summary(): Promise<CacheSummary>;
  list(filter: ListFilter): Promise<EntryView[]>;
}

const topics = { purge: 'cache.purge', stats: 'cache.stats', entries: 'cache.entries' } as const;

/** The cache instances of each generation (a generation's info object is shared by all its plugins). */
const generations = new WeakMap<GenerationInfo, CacheInstance[]>();

/**
 * Adds `instance` to its generation's caches. The first instance of a generation taps
 * `app.message` and `app.admin` for all of them. Returns the removal.
 */
export function joinGeneration(api: PluginApi, instance: CacheInstance): () => void {
  let caches = generations.get(api.generation);
  if (!caches) {
    generations.set(api.generation, (caches = []));
    tapForAll(api, caches);
  }
  caches.push(instance);
  return () => {
    const i = caches.indexOf(instance);
    if (i !== -1) caches.splice(i, 1);
  };
}

/** Purges in every cache of every worker; `workers` says how many answered. */
export async function purgeEverywhere(api: PluginApi, request: PurgeRequest): Promise<{ purged: number; workers: number }> {
  const answers = (await api.broadcast(topics.purge, request)).filter((a): a is { purged: number } => typeof (a as { purged?: unknown })?.purged === 'number');
  return { purged: answers.reduce((n, a) => n + a.purged, 0), workers: answers.length };
}

/** A PURGE target or a purge call's path: a trailing `*` makes it a prefix. */
export function purgeOf(host: string, target: string): PurgeRequest {
  return target.endsWith('*') ? { prefix: `${host}${target.slice(0, -1)}` } : { host, target };
}

const usage =
  'expected a JSON object: {"url": "http://host/path"}, {"host": "host", "path": "/path"} (a trailing * purges every URL starting so) or {"tag": "name"}';

/** The body of POST /cache/purge. */
export function parsePurge(body: Buffer): PurgeRequest | { error: string } {
  let given: unknown;
  try {
    given = JSON.parse(body.toString('utf8'));
  } catch {
    return { error: usage };
  }
  if (typeof given !== 'object' || given === null || Array.isArray(given)) return { error: usage };
  const { url, host, path, tag, ...rest } = given as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) return { error: `unknown field "${unknown[0]}": ${usage}` };
  const ways = [url !== undefined, host !== undefined || path !== undefined, tag !== undefined].filter(Boolean).length;
  if (ways !== 1) return { error: usage };
  if (tag !== undefined) {
    if (typeof tag !== 'string' || !/^[^\s,]+$/.test(tag)) return { error: 'expected "tag" to be one tag: no spaces or commas' };
    return { tag };
  }
  if (url !== undefined) {
    if (typeof url !== 'string') return { error: usage };
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return { error: `"url" is not a URL: ${url}` };
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: `expected an http or https URL, not ${parsed.protocol}` };
    return purgeOf(parsed.host.toLowerCase(), parsed.pathname + parsed.search);
  }
  if (typeof host !== 'string' || !host || typeof path !== 'string' || !path.startsWith('/'))
    return { error: 'expected "host" (as clients send it in Host) and "path" starting with /' };
  return purgeOf(host.toLowerCase(), path);
}

const json = (status: number, body: unknown, headers: Record<string, string> = {}): HttpAnswer => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: `${JSON.stringify(body, null, 2)}\n`,
});

function tapForAll(api: PluginApi, caches: CacheInstance[]): void {
  api.hooks.app.message.tapPromise(api.name, async (topic, data) => {
    if (topic === topics.purge) {
      let purged = 0;
      for (const cache of caches) purged += await cache.purge(data as PurgeRequest);
      return { pid: process.pid, purged };
    }
    if (topic === topics.stats) return { pid: process.pid, caches: await Promise.all(caches.map((c) => c.summary())) };
    if (topic === topics.entries) {
      const filter = data as ListFilter;
      const entries: EntryView[] = [];
      for (const cache of caches) entries.push(...(await cache.list({ ...filter, limit: filter.limit - entries.length })));
      return { pid: process.pid, entries };
    }
    return undefined;
  });

  api.hooks.app.admin.tapPromise(api.name, (req) => answerAdmin(api, req));
}

async function answerAdmin(api: PluginApi, req: AdminRequest): Promise<HttpAnswer | undefined> {
  switch (req.path) {
    case '/cache/purge': {
      if (req.method !== 'POST') return json(405, { error: 'POST a purge' }, { allow: 'POST' });
      if (!req.writable) return json(403, { error: 'the stats listener is read-only here (stats.admin: false)' });
      const request = parsePurge(req.body);
      if ('error' in request) return json(400, request);
      return json(200, await purgeEverywhere(api, request));
    }
    case '/cache/stats': {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'GET only' }, { allow: 'GET' });
      const workers = (await api.broadcast(topics.stats, null)).filter((a): a is { pid: number; caches: CacheSummary[] } =>
        Array.isArray((a as { caches?: unknown })?.caches),
      );
      const total = (field: 'entries' | 'bytes') => workers.reduce((n, w) => n + w.caches.reduce((m, c) => m + c[field], 0), 0);
      return json(200, { entries: total('entries'), bytes: total('bytes'), workers });
    }
    case '/cache/entries': {
      if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'GET only' }, { allow: 'GET' });
      const limit = Number(req.query.get('limit') ?? 100);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return json(400, { error: 'expected limit between 1 and 10000' });
      const filter: ListFilter = { prefix: req.query.get('prefix') ?? '', tag: req.query.get('tag') ?? undefined, limit };
      const workers = (await api.broadcast(topics.entries, filter)).filter((a) => Array.isArray((a as { entries?: unknown })?.entries));
      return json(200, { workers });
    }
    default:
      return undefined;
  }
}
