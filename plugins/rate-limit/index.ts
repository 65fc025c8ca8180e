// Rate limits per client (address, header, JWT claim, API key, or several together):
// a sliding window or a token bucket, counted in one of three stores (shared: the
// master, for every worker; local: this process; redis: every gateway machine). Runs
// on `request` at Stage.LIMIT, after authentication; refuses with 429, Retry-After and
// the draft's RateLimit fields, which it also adds to the server's responses.
import { Duration as AnyDuration, definePlugin, parseDuration, Stage, z, type HttpAnswer, type HttpContext } from '../../sdk/index.ts';
import type { Decision, Policy } from './algorithms.ts';
import { appendItem, limitItem, policyItem, retryAfter } from './headers.ts';
import { compileKey, describeKey, type KeyPart } from './key.ts';
import { localStore } from './stores/local.ts';
import { redisStore } from './stores/redis.ts';
import { sharedStore } from './stores/shared.ts';
import { failOpen, type LimitStore } from './stores/store.ts';

const periods: Record<string, number> = { second: 1000, minute: 60_000, hour: 3_600_000, day: 86_400_000 };
/** `100 per 1m`, `100/1m`, `100 per minute` → [100, 60000]; undefined when it is not that. */
function parseRate(text: string): [number, number] | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:per|\/)\s*(\S+)\s*$/.exec(text);
  if (!m) return undefined;
  const count = Number(m[1]);
  let ms: number;
  try {
    ms = periods[m[2]!] ?? parseDuration(m[2]!);
  } catch {
    return undefined;
  }
  return count > 0 && ms > 0 ? [count, ms] : undefined;
}
const RateText = z.string().refine((s) => parseRate(s) !== undefined, 'expected "<count> per <duration>", e.g. "100 per 1m" or "10 per second"');

/** Instances made so far in this process: each keeps its decision under a key of its own. */
let instances = 0;
const redisDefaults = { url: 'redis://127.0.0.1:6379', prefix: 'tapgate:rate-limit:' };

const KeyPartSchema = z.union([
  z.literal(['client_ip', 'api_key']),
  z.strictObject({ header: z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name') }),
  z.strictObject({ claim: z.string().min(1) }),
]);

const Duration = AnyDuration.refine((ms) => ms > 0, 'expected a duration above 0');

const Options = z
  .strictObject({
    /** Who a request counts against; a list combines parts (each client of each tenant). */
    key: z.union([KeyPartSchema, z.array(KeyPartSchema).min(1)]).default('client_ip'),
    /** A request without its key: `limit` (all such requests share one budget) or `allow` (they pass, uncounted). */
    missing: z.enum(['limit', 'allow']).default('limit'),
    algorithm: z.enum(['sliding_window', 'token_bucket']).default('sliding_window'),
    /** sliding_window: requests per `window` (a number), or both at once: `"100 per 1m"`. */
    limit: z.union([z.number().int().positive(), RateText]).optional(),
    window: Duration.optional(),
    /** token_bucket: tokens added per second (a number), or `"10 per 1s"`; `burst` is the bucket's size. */
    rate: z.union([z.number().positive(), RateText]).optional(),
    burst: z.number().int().positive().optional(),
    /** Where counts live: `shared` (default for sliding_window), `local` (default for token_bucket), `redis`. */
    store: z.enum(['shared', 'local', 'redis']).optional(),
    redis: z.strictObject({ url: z.string().default(redisDefaults.url), prefix: z.string().default(redisDefaults.prefix) }).optional(),
    /** The policy's name in the RateLimit fields. */
    policy: z
      .string()
      .regex(/^[A-Za-z0-9_.:/-]+$/, 'expected letters, digits and _ . : / -')
      .default('default'),
    /** Add RateLimit-Policy and RateLimit to the server's responses too (a refusal always carries them). */
    headers: z.boolean().default(true),
    /** How long to wait for the shared or Redis store before letting a request pass. */
    timeout: Duration.default(1000),
    /** Local store: clients remembered at most (the least recently seen are forgotten). */
    max_keys: z.number().int().positive().default(100_000),
  })
  .superRefine((o, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], input: (o as Record<string, unknown>)[path], message });
    // Something missing is reported on the options themselves (the kernel would only say "missing required key").
    const lacking = (message: string) => ctx.addIssue({ code: 'custom', path: [], input: o, message });
    if (o.algorithm === 'sliding_window') {
      if (o.limit === undefined) lacking('expected a limit: `limit: "100 per 1m"`, or `limit: 100` with `window: 1m`');
      else if (typeof o.limit === 'number' && o.window === undefined)
        lacking('expected a window with a numeric limit, e.g. `window: 1m` (or write `limit: "100 per 1m"`)');
      else if (typeof o.limit === 'string' && o.window !== undefined)
        issue('window', 'the limit already says its window ("… per …"): remove `window`, or make `limit` a number');
      for (const k of ['rate', 'burst'] as const)
        if (o[k] !== undefined) issue(k, `\`${k}\` is for algorithm: token_bucket; a sliding window takes \`limit\` and \`window\``);
    } else {
      if (o.rate === undefined) lacking('expected a rate: `rate: 10` (per second) or `rate: "600 per 1m"`, and optionally `burst`');
      for (const k of ['limit', 'window'] as const)
        if (o[k] !== undefined) issue(k, `\`${k}\` is for algorithm: sliding_window; a token bucket takes \`rate\` and \`burst\``);
      if (o.store === 'shared')
        issue(
          'store',
          'the shared store (api.take) counts sliding windows only: use `store: redis` for a token bucket across workers and machines, or `store: local` (per worker)',
        );
    }
    if (o.redis !== undefined && o.store !== 'redis') issue('redis', '`redis` settings need `store: redis`');
  });

type Options = z.output<typeof Options>;

/** The numbers the options describe. */
function policyOf(o: Options): Policy {
  if (o.algorithm === 'sliding_window') {
    const [limit, window] = typeof o.limit === 'string' ? parseRate(o.limit)! : [o.limit!, o.window!];
    return { algorithm: 'sliding_window', limit: Math.floor(limit), window };
  }
  const [count, per] = typeof o.rate === 'string' ? parseRate(o.rate)! : [o.rate!, 1000];
  const rate = count / per; // tokens per ms
  return { algorithm: 'token_bucket', rate, burst: o.burst ?? Math.max(1, Math.ceil(rate * 1000)) };
}

export default definePlugin({
  name: 'rate-limit',
  version: '1.0.0',
  gateway: '^0.1',
  description:
    'Limits requests per client (address, header, JWT claim, API key): 429 with Retry-After and RateLimit fields; counts shared by the workers, local, or in Redis.',
  options: Options as z.ZodType<Options>,
  async setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`rate-limit works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const policy = policyOf(o);
    const storeName = o.store ?? (policy.algorithm === 'sliding_window' ? 'shared' : 'local');
    const parts: KeyPart[] = Array.isArray(o.key) ? o.key : [o.key];
    const keyOf = compileKey(parts);
    // Counts are named after where the plugin sits and what it counts, so a reload (or
    // another gateway with the same config, on Redis) finds the same budgets.
    const where = api.scope.kind === 'gateway' ? '*' : api.scope.kind === 'frontend' ? api.scope.frontend : `${api.scope.frontend}/${api.scope.route}`;
    const numbers = policy.algorithm === 'sliding_window' ? `${policy.limit}/${policy.window}` : `${policy.rate * 1000}/s+${policy.burst}`;
    const prefix = `${where}|${o.policy}|${describeKey(parts)}|${numbers}`;
    const keyed = `${prefix}=`;
    const missingKey = `${prefix}#missing`;

    let store: LimitStore;
    if (storeName === 'local') store = localStore(policy, o.max_keys, api.now);
    else if (storeName === 'shared' && policy.algorithm === 'sliding_window') store = sharedStore(api, policy.limit, policy.window);
    else store = await redisStore(policy, o.redis ?? redisDefaults, api.log);
    const take = store.sync ? store.take : failOpen(store, storeName, o.timeout, api.log, api.now);

    const policyField = policyItem(o.policy, policy);
    const refusedBody = 'Too Many Requests\n';
    const refuse = (d: Decision): HttpAnswer => {
      const headers: Record<string, string> = { 'content-type': 'text/plain; charset=utf-8', 'retry-after': String(retryAfter(d)) };
      headers['ratelimit-policy'] = policyField;
      headers.ratelimit = limitItem(o.policy, d);
      return { status: 429, headers, body: refusedBody };
    };
    // What `upstreamResponse` adds, decided in `request`: kept in the request's state under this instance's key.
    const granted = `rate-limit.granted.${++instances}`;
    // The access log says what was decided: allowed, limited, unkeyed (no key: not counted) or unavailable (the store failed: passed).
    const decided = (ctx: HttpContext, d: Decision | undefined): HttpAnswer | undefined => {
      ctx.setLogField('rate_limit', d === undefined ? 'unavailable' : d.allowed ? 'allowed' : 'limited');
      if (d === undefined) return undefined;
      if (!d.allowed) return refuse(d);
      if (o.headers) ctx.state[granted] = d;
      return undefined;
    };
    // The last key made, kept: a keep-alive connection's requests (the same address
    // string each time) count under one string, its hash already known to the store.
    let lastPart: string | undefined;
    let lastKey = '';
    const storeKey = (ctx: HttpContext): string | undefined => {
      const k = keyOf(ctx);
      if (k === undefined) return o.missing === 'limit' ? missingKey : undefined;
      if (k !== lastPart) ((lastPart = k), (lastKey = keyed + k));
      return lastKey;
    };

    const unkeyed = (ctx: HttpContext): undefined => void ctx.setLogField('rate_limit', 'unkeyed');

    const tap = { name: api.name, stage: Stage.LIMIT };
    if (store.sync) {
      api.hooks.http.request.tap(tap, (ctx) => {
        const k = storeKey(ctx);
        return k === undefined ? unkeyed(ctx) : decided(ctx, take(k) as Decision | undefined);
      });
    } else {
      api.hooks.http.request.tapPromise(tap, async (ctx) => {
        const k = storeKey(ctx);
        return k === undefined ? unkeyed(ctx) : decided(ctx, await take(k));
      });
    }
    if (o.headers) {
      // A sync tap: the response is not held up by a promise.
      api.hooks.http.upstreamResponse.tap(api.name, (ctx, res) => {
        const d = ctx.state[granted] as Decision | undefined;
        if (d === undefined) return;
        res.headers['ratelimit-policy'] = appendItem(res.headers['ratelimit-policy'], policyField);
        res.headers.ratelimit = appendItem(res.headers.ratelimit, limitItem(o.policy, d));
      });
    }
    return () => store.close();
  },
});
