// An HTTP cache for a shared cache's place in front of servers (RFC 9111, with RFC
// 5861's stale-while-revalidate and stale-if-error). Hits are answered in `request`;
// `upstreamResponse` decides what to keep and collects the body while it streams to
// the client; `upstreamRequest` turns a stale entry's refetch into a conditional request;
// `errorResponse` puts a stale entry in place of the gateway's own 502/503/504.
// The store sits behind a small interface (store.ts); the RFC rules are in policy.ts
// (and targeted.ts: RFC 9213's CDN-Cache-Control and its kin in place of Cache-Control);
// purges and listings reaching every instance in every worker are in admin.ts.
import {
  addressMatcher,
  Cidr,
  definePlugin,
  Duration,
  HeaderName,
  Size,
  Stage,
  z,
  type Eventually,
  type HttpAnswer,
  type HttpContext,
  type HttpHeaders,
  type UpstreamResponse,
} from '../../sdk/index.ts';
import { joinGeneration, purgeEverywhere, purgeOf, type CacheInstance, type EntryView, type PurgeRequest } from './admin.ts';
import { keyFunction } from './key.ts';
import {
  ageSeconds,
  currentAge,
  describe,
  freshenHeaders,
  header,
  isStorable,
  notModified,
  notModifiedHeaders,
  originErrors,
  parseCacheControl,
  requestDirectives,
  safeMethods,
  staleIfErrorAllows,
  storedHeaders,
  useFor,
  type CachedResponse,
  type Directives,
} from './policy.ts';
import { MemoryStore } from './store.ts';
import { targetedView } from './targeted.ts';
import { VariantStore, type Stored } from './variants.ts';

const Options = z.strictObject({
  /** Bytes held at most (bodies and headers); least recently used entries leave first. */
  max_size: Size.default(64 * 1024 * 1024),
  /** Larger responses are passed through, not stored. */
  max_object_size: Size.default(1024 * 1024),
  /** When set, the freshness lifetime of every storable response, whatever the origin says. */
  ttl: Duration.optional(),
  /** The response header saying HIT, MISS, STALE or REVALIDATED. */
  status_header: HeaderName.default('x-cache'),
  /**
   * A response with `Set-Cookie` (not withheld by `no-cache="set-cookie"`): `refuse` stores
   * none; `strip` stores it, otherwise cacheable, without the cookie (the client whose
   * request reached the server still gets it).
   */
  set_cookie: z.enum(['refuse', 'strip']).default('refuse'),
  key: z
    .strictObject({
      /** true: the query is left out of the key; a list: these parameters are. */
      ignore_query: z.union([z.boolean(), z.array(z.string())]).default(false),
      /** Request headers whose values also tell responses apart (as if every response had them in Vary). */
      headers: z.array(HeaderName).default([]),
    })
    .default({ ignore_query: false, headers: [] }),
  /**
   * Targeted cache control fields (RFC 9213), in order of preference: the first present
   * with a valid value replaces Cache-Control and Expires for this cache.
   */
  targeted: z.array(HeaderName).default(['cdn-cache-control']),
  /** Remove targeted fields from responses to clients: true, every field of `targeted`; a list, these. */
  strip_targeted: z.union([z.boolean(), z.array(HeaderName)]).default(false),
  tags: z
    .strictObject({
      /** The response header naming the tags to purge a response by (comma or space separated). */
      header: HeaderName.default('cache-tag'),
      /** Remove it from responses to clients (it is meant for the cache). */
      strip: z.boolean().default(true),
    })
    .default({ header: 'cache-tag', strip: true }),
  purge: z
    .strictObject({
      /** Accept the PURGE method: `PURGE /path` drops one URL, `PURGE /prefix*` every URL starting so, in every worker. */
      enabled: z.boolean().default(false),
      /** Client addresses allowed to purge. */
      allow: z.array(Cidr).default(['127.0.0.1/32', '::1/128']),
    })
    .default({ enabled: false, allow: ['127.0.0.1/32', '::1/128'] }),
});
export type CacheOptions = z.output<typeof Options>;

/** What a cache instance knows about a request on its way upstream (`ctx.state[stateKey]`). */
/** A request fetching what others with the same key may wait for (request coalescing). */
interface Leader {
  waiters: (() => void)[] | undefined;
}

interface RequestState {
  key: string;
  host: string;
  req: Directives;
  /** The stored response this request refetches: validated with a 304, or standing in for an error. */
  entry?: CachedResponse;
  /** We sent the entry's validators. */
  conditional: boolean;
  requestTime: number;
  /** An unsafe method: invalidate on success (RFC 9111 4.4). */
  invalidate?: boolean;
  /** Its target (path and query) as the request hook saw it. */
  target?: string;
  /** Releases requests waiting for this one's response (coalescing). */
  lead?: () => void;
  saving?: Promise<unknown>;
}

const conditionalHeaders = ['if-none-match', 'if-modified-since'];
/** A client's fields a background revalidation does not send again: its conditionals and directives are the cache's to set. */
const notResent: ReadonlySet<string> = new Set(['cache-control', 'pragma', ...conditionalHeaders]);
/** How long a background revalidation may take before it is given up (the next stale hit tries again). */
const revalidationTimeout = 60_000;
let instances = 0;
/** The gateway's own errors a stale response may hide (RFC 5861 4): no server reachable, a broken exchange, a timeout. */
const gatewayErrors: ReadonlySet<number> = new Set([502, 503, 504]);
/** `ctx.state` key of the targeted fields a cache removed from the response: the others in the chain (frontend, route) still read them. */
const strippedTargeted = 'cache-targeted';

/** A tag header's names, comma or space separated, each once. */
function tagsOf(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return [...new Set((Array.isArray(value) ? value.join(',') : value).split(/[\s,]+/).filter(Boolean))];
}

export default definePlugin({
  name: 'cache',
  version: '1.0.0',
  gateway: '^0.1',
  description:
    'HTTP cache (RFC 9111 shared cache, RFC 5861 stale-*): in-memory LRU bounded by bytes, coalescing, purges by URL, prefix or tag in every worker.',
  options: Options,
  setup(api, o) {
    const scope = api.scope;
    const labels = { cache: scope.kind === 'route' ? `${scope.frontend}/${scope.route}` : scope.kind === 'frontend' ? scope.frontend : 'gateway' };
    // Bound to this cache's labels once: a request counts without building a label key.
    const hits = api.metrics.counter('cache_hits_total', 'Requests answered from the cache (fresh or allowed stale)').bind(labels);
    const misses = api.metrics.counter('cache_misses_total', 'Requests sent to a server for want of a usable stored response').bind(labels);
    const revalidations = api.metrics.counter('cache_revalidations_total', 'Stored responses confirmed by a 304 from the server').bind(labels);
    const storedBytes = api.metrics.counter('cache_stored_bytes_total', 'Bytes written to the cache').bind(labels);
    const heldBytes = api.metrics.gauge('cache_bytes', 'Bytes held in the cache').bind(labels);
    const evictions = api.metrics.counter('cache_evictions_total', 'Entries evicted to make room for others').bind(labels);

    const memory = new MemoryStore<Stored>(o.max_size, {
      evicted: () => evictions.inc(),
      resized: (bytes) => heldBytes.set(bytes),
    });
    const variants = new VariantStore(memory);
    const keyOf = keyFunction(o.key);
    const hdr = o.status_header;
    const inflight = new Map<string, Leader>();
    const revalidating = new Set<string>();
    const mayPurge = addressMatcher(o.purge.allow);

    // Each instance keeps its own request state: a frontend's cache and a route's may both see a request.
    const stateKey = `cache#${++instances}`;
    const tagHeader = o.tags.header;
    const strippedTags = `cache-tags:${tagHeader}`;
    const hostOf = (ctx: HttpContext) => ctx.header('host').toLowerCase();
    const withKeyHeaders = (vary: string[]) => (o.key.headers.length ? [...new Set([...vary, ...o.key.headers])] : vary);
    const stripTargeted = o.strip_targeted === true ? o.targeted : o.strip_targeted || [];
    /**
     * The stored headers a client gets, less the targeted fields this cache strips, with the
     * response's age and this cache's verdict. Copied field by field: an object spread of a
     * stored entry's headers (long-lived, in V8's old space) makes a copy that survives the
     * young-generation collections, about 400 bytes a HIT promoted to the old space, and
     * mark-compacts four times as often as when proxying.
     */
    const forClient = (headers: HttpHeaders, age: number, result: string): HttpHeaders => {
      const out: HttpHeaders = {};
      for (const name in headers) if (!stripTargeted.includes(name)) out[name] = headers[name];
      out.age = ageSeconds(age);
      out[hdr] = result;
      return out;
    };
    /** The response's headers as the server sent them: with the targeted fields a cache in the chain (this one included) removed. */
    const sentHeaders = (ctx: HttpContext, res: UpstreamResponse): HttpHeaders => {
      let removed = ctx.state[strippedTargeted] as HttpHeaders | undefined;
      if (stripTargeted.some((name) => res.headers[name] !== undefined)) {
        ctx.state[strippedTargeted] = removed = { ...removed };
        for (const name of stripTargeted) {
          if (res.headers[name] === undefined) continue;
          removed[name] = res.headers[name];
          delete res.headers[name];
        }
      }
      return removed ? { ...res.headers, ...removed } : res.headers;
    };
    const stored = (status: number, headers: HttpHeaders, body: Uint8Array, requestTime: number, responseTime: number, tags: string[]) => {
      const view = targetedView(headers, o.targeted);
      const entry = describe(status, view, body, requestTime, responseTime, o.ttl);
      // The fields as the server sent them (targeted ones included), less those the governing directives (or set_cookie: strip) withhold.
      entry.headers = storedHeaders(headers, parseCacheControl(view['cache-control']), o.set_cookie === 'strip');
      entry.vary = withKeyHeaders(entry.vary);
      entry.tags = tags;
      return entry;
    };

    const instance: CacheInstance = {
      purge: (request: PurgeRequest) =>
        'tag' in request
          ? variants.invalidateTag(request.tag)
          : 'prefix' in request
            ? variants.invalidatePrefix(request.prefix)
            : variants.invalidate(keyOf(request.host, request.target)),
      summary: async () => {
        const listed = await variants.list('', Number.MAX_SAFE_INTEGER);
        return { cache: labels.cache, entries: listed.length, bytes: memory.bytes, tags: memory.tags };
      },
      list: async ({ prefix, tag, limit }) => {
        const now = api.now();
        const out: EntryView[] = [];
        for (const { key, variant, entry } of await variants.list(prefix, limit, tag)) {
          const age = currentAge(entry, now);
          out.push({
            cache: labels.cache,
            key,
            ...(variant ? { variant } : {}),
            status: entry.status,
            age_s: Math.floor(age / 1000),
            fresh_s: Math.floor(entry.lifetime / 1000) - Math.floor(age / 1000),
            bytes: entry.body.length,
            tags: entry.tags,
          });
        }
        return out;
      },
    };
    const leave = joinGeneration(api, instance);

    /** Followers wait for the leader's response, then look again: a promise made only once one waits. */
    const lead = (key: string) => {
      const leader: Leader = { waiters: undefined };
      inflight.set(key, leader);
      return () => {
        if (inflight.get(key) === leader) inflight.delete(key);
        if (leader.waiters) for (const wake of leader.waiters.splice(0)) wake();
      };
    };
    const follow = (leader: Leader) => new Promise<void>((wake) => (leader.waiters ??= []).push(wake));
    const coalescible = (ctx: HttpContext, req: Directives) => ctx.method === 'GET' && req.size === 0 && ctx.headers.authorization === undefined;

    const answerFromStore = (ctx: HttpContext, entry: CachedResponse, age: number, result: string): HttpAnswer => {
      ctx.setLogField('cache', result);
      if (notModified(ctx.headers, entry)) {
        const headers = notModifiedHeaders(entry);
        headers.age = ageSeconds(age);
        headers[hdr] = result;
        return { status: 304, headers };
      }
      const body = entry.status === 204 || entry.status === 304 ? undefined : entry.body;
      return { status: entry.status, headers: forClient(entry.headers, age, result), body };
    };

    /** Turns the server's answer (a 304, or an error a stale entry hides) into the stored response. */
    const replaceWithStored = (ctx: HttpContext, res: UpstreamResponse, entry: CachedResponse, age: number, result: string) => {
      const setCookie = res.headers['set-cookie']; // added by taps before ours (persistence): it belongs to this exchange
      const answer = answerFromStore(ctx, entry, age, result);
      res.status = answer.status;
      res.headers = answer.headers!;
      if (setCookie !== undefined) res.headers['set-cookie'] = setCookie;
      res.replaceBody(answer.body instanceof Uint8Array ? answer.body : new Uint8Array(0));
    };

    /**
     * stale-while-revalidate (RFC 5861 3): the same request again, asking for validation,
     * through the same frontend in this process (`api.fetch`), with the client's TLS facts:
     * the routes and plugins that shaped the stored response (rewrites, identity headers,
     * the backend chosen) shape its revalidation, and this cache's own taps make it
     * conditional and store the answer. `max-age=0` keeps it from being answered from here.
     */
    const revalidateInBackground = (ctx: HttpContext, key: string) => {
      if (revalidating.has(key)) return;
      revalidating.add(key);
      const headers: HttpHeaders = {};
      for (const name in ctx.headers) if (!notResent.has(name)) headers[name] = ctx.headers[name];
      headers['cache-control'] = 'max-age=0';
      api
        .fetch({ frontend: ctx.frontend, path: ctx.url, headers, from: ctx, discardBody: true, timeout: revalidationTimeout })
        .catch((error: Error) => api.log.warn({ error: error.message, key }, 'background revalidation failed'))
        .finally(() => revalidating.delete(key));
    };

    const purge = async (ctx: HttpContext): Promise<HttpAnswer> => {
      if (!mayPurge(ctx.client.address)) {
        return { status: 403, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'purge not allowed from this address\n' };
      }
      const purged = await purgeEverywhere(api, purgeOf(hostOf(ctx), ctx.url));
      return { status: 200, headers: { 'content-type': 'application/json' }, body: `${JSON.stringify(purged)}\n` };
    };

    /**
     * What a request does with what the store holds for it: answer from it, wait for the
     * request already fetching it and look again (once), or go to the server.
     */
    const decide = (ctx: HttpContext, state: RequestState, entry: CachedResponse | undefined, waited: boolean): Eventually<HttpAnswer | undefined> => {
      if (entry) {
        const use = useFor(entry, state.req, api.now());
        if (use.use === 'fresh') {
          hits.inc();
          return answerFromStore(ctx, entry, use.age, 'HIT');
        }
        if (use.use === 'stale') {
          hits.inc();
          if (use.background) revalidateInBackground(ctx, state.key);
          return answerFromStore(ctx, entry, use.age, 'STALE');
        }
      }
      if (!waited && coalescible(ctx, state.req)) {
        const leader = inflight.get(state.key);
        if (leader)
          return follow(leader)
            .then(() => variants.lookup(state.key, ctx.headers))
            .then((again) => decide(ctx, state, again, true));
        state.lead = lead(state.key);
      }
      state.entry = entry;
      if (state.req.has('only-if-cached')) {
        state.lead?.();
        ctx.setLogField('cache', 'MISS');
        return { status: 504, headers: { 'content-type': 'text/plain; charset=utf-8', [hdr]: 'MISS' }, body: 'not in cache\n' };
      }
      misses.inc();
      return undefined;
    };

    // Not async: with the memory store a request is decided in the same turn (see EagerBailHook).
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.CACHE }, (ctx) => {
      // An upgrade (WebSocket...) is a connection, not a response: never answered, awaited or stored.
      if (ctx.headers.upgrade !== undefined) return undefined;
      const method = ctx.method;
      if (method === 'PURGE' && o.purge.enabled) return purge(ctx);
      const host = hostOf(ctx);
      if (method !== 'GET' && method !== 'HEAD') {
        if (!safeMethods.has(method))
          ctx.state[stateKey] = {
            key: keyOf(host, ctx.url),
            host,
            req: new Map(),
            conditional: false,
            requestTime: 0,
            invalidate: true,
            target: ctx.url,
          } satisfies RequestState;
        return undefined;
      }
      const key = keyOf(host, ctx.url);
      const state: RequestState = { key, host, req: requestDirectives(ctx.headers), conditional: false, requestTime: 0 };
      ctx.state[stateKey] = state;
      const entry = variants.lookup(key, ctx.headers);
      return entry instanceof Promise ? entry.then((found) => decide(ctx, state, found, false)) : decide(ctx, state, entry, false);
    });

    api.hooks.http.upstreamRequest.tap({ name: api.name, stage: Stage.CACHE }, (ctx) => {
      const state = ctx.state[stateKey] as RequestState | undefined;
      if (!state || state.invalidate || !ctx.upstream) return;
      state.requestTime = api.now();
      const entry = state.entry;
      if (!entry) return;
      const etag = header(entry.headers, 'etag');
      const lastModified = header(entry.headers, 'last-modified');
      if (etag === undefined && lastModified === undefined) return;
      const up = ctx.upstream.headers;
      for (const name of conditionalHeaders) delete up[name];
      if (etag !== undefined) up['if-none-match'] = etag;
      if (lastModified !== undefined) up['if-modified-since'] = lastModified;
      state.conditional = true;
    });

    // Not async either: only invalidations and revalidated entries wait for the store.
    api.hooks.http.upstreamResponse.tapPromise({ name: api.name, stage: Stage.CACHE }, (ctx, res) => {
      const state = ctx.state[stateKey] as RequestState | undefined;
      if (!state) return;
      // The tag header is for caches, not clients: the first cache to strip it leaves its value to the others in the chain (frontend, route).
      const tagValue = (res.headers[tagHeader] ?? ctx.state[strippedTags]) as string | string[] | undefined;
      if (o.tags.strip && res.headers[tagHeader] !== undefined) {
        ctx.state[strippedTags] = tagValue;
        delete res.headers[tagHeader];
      }
      const sent = sentHeaders(ctx, res);
      const now = api.now();
      if (state.invalidate) {
        if (res.status >= 200 && res.status < 400) return invalidateAfterUnsafe(ctx, state, res.headers);
        return;
      }
      const tags = tagsOf(tagValue);
      const entry = state.entry;
      if (entry && state.conditional && res.status === 304) {
        const fresh = stored(entry.status, freshenHeaders(entry.headers, sent), entry.body, state.requestTime, now, tags.length ? tags : entry.tags);
        return variants.save(state.key, ctx.headers, fresh).then(() => {
          revalidations.inc();
          state.lead?.();
          replaceWithStored(ctx, res, fresh, currentAge(fresh, now), 'REVALIDATED');
        });
      }
      if (entry && originErrors.has(res.status) && staleIfErrorAllows(entry, state.req, now)) {
        state.lead?.();
        return replaceWithStored(ctx, res, entry, currentAge(entry, now), 'STALE');
      }
      const length = header(res.headers, 'content-length');
      const policy = targetedView(sent, o.targeted);
      const storable =
        isStorable(
          ctx.method,
          ctx.headers.authorization !== undefined,
          state.req,
          res.status,
          parseCacheControl(policy['cache-control']),
          policy,
          o.set_cookie === 'strip',
        ) &&
        (length === undefined || Number(length) <= o.max_object_size);
      // Stored as the server sent them, before taps after ours change them for this client.
      const headers = storable ? { ...sent } : undefined;
      res.headers[hdr] = 'MISS';
      ctx.setLogField('cache', 'MISS');
      if (!headers) return state.lead?.();
      collect(ctx, state, res, headers, tags, now, length === undefined ? undefined : Number(length));
      return undefined;
    });

    // RFC 5861 4 for errors of the gateway's own (no server reachable, a timeout): the stale entry this request would have validated.
    api.hooks.http.errorResponse.tapPromise({ name: api.name, stage: Stage.CACHE }, (ctx, status) => {
      const state = ctx.state[stateKey] as RequestState | undefined;
      const entry = state?.entry;
      if (!entry || !gatewayErrors.has(status)) return undefined;
      const now = api.now();
      if (!staleIfErrorAllows(entry, state.req, now)) return undefined;
      return answerFromStore(ctx, entry, currentAge(entry, now), 'STALE');
    });

    /** Keeps the body as it streams to the client, and stores it once complete. */
    const collect = (
      ctx: HttpContext,
      state: RequestState,
      res: UpstreamResponse,
      headers: HttpHeaders,
      tags: string[],
      responseTime: number,
      length: number | undefined,
    ) => {
      const status = res.status;
      const chunks: Uint8Array[] = [];
      let bytes = 0;
      let tooLarge = false;
      const release = () => state.lead?.();
      res.onBody({
        data(chunk) {
          if (tooLarge) return;
          bytes += chunk.length;
          if (bytes > o.max_object_size) {
            tooLarge = true;
            chunks.length = 0;
          } else chunks.push(chunk);
        },
        end() {
          if (tooLarge || (length !== undefined && bytes !== length)) return release();
          const entry = stored(status, headers, Buffer.concat(chunks, bytes), state.requestTime, responseTime, tags);
          // Stale on arrival with nothing to validate it by: storing it would only cost memory.
          const useful = entry.lifetime > entry.initialAge || entry.headers.etag !== undefined || entry.headers['last-modified'] !== undefined;
          if (!useful) return release();
          state.saving = variants
            .save(state.key, ctx.headers, entry)
            .then((size) => storedBytes.inc(size))
            .catch((error: Error) => api.log.error({ error: error.message, key: state.key }, 'storing a response failed'))
            .finally(release);
        },
        error: release,
      });
    };

    /**
     * RFC 9111 4.4: a successful unsafe request invalidates its target and same-origin
     * Location / Content-Location, in every cache of every worker (a purge by URL each),
     * before the client has the answer: a GET that follows it, on any connection, is not
     * answered from the old copy. This cache drops them first itself, so a worker of a
     * generation that is draining (which the broadcast does not reach) does too.
     */
    const invalidateAfterUnsafe = async (ctx: HttpContext, state: RequestState, headers: HttpHeaders) => {
      const targets = new Set([state.target!]);
      for (const name of ['location', 'content-location']) {
        const value = header(headers, name);
        if (!value) continue;
        try {
          const url = new URL(value, `http://${state.host}${ctx.path}`);
          if (url.host === state.host) targets.add(url.pathname + url.search);
        } catch {
          // not a URL: nothing to invalidate
        }
      }
      for (const target of targets) await variants.invalidate(keyOf(state.host, target));
      await Promise.all(
        [...targets].map((target) =>
          purgeEverywhere(api, { host: state.host, target }).catch((error: Error) =>
            api.log.warn({ error: error.message, host: state.host, target }, 'invalidation in other workers failed'),
          ),
        ),
      );
    };

    api.hooks.http.responseSent.tap({ name: api.name, stage: Stage.CACHE }, (ctx) => {
      const state = ctx.state[stateKey] as RequestState | undefined;
      if (state?.lead && !state.saving) state.lead();
    });

    return () => {
      leave();
      memory.clear();
      for (const key of [...inflight.keys()]) inflight.delete(key);
    };
  },
});
