// HTTP basic authentication (RFC 7617): users from the options with scrypt password
// hashes. Verifying a password costs tens of milliseconds of CPU and 16 MB by design, so a
// success is remembered for a short while (`cache.ttl`), keyed by the user and an HMAC of
// the presented password under a key that lives only in this process: a keep-alive client
// pays once, and the memory holds nothing a stolen copy could be checked against offline.
// Concurrent requests with the same credentials share one verification.
import { createHmac, randomBytes } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { definePlugin, Duration, HeaderName, Stage, z, type HttpAnswer, type HttpContext } from '../../sdk/index.ts';
import { decoyHash, parseScryptHash, verifyScrypt, type ScryptHash } from './scrypt.ts';

/** RFC 7617: a user-id holds no colon and no control characters. */
const UserName = z.string().regex(/^[^:\x00-\x1f\x7f]+$/, 'expected a user name without ":" or control characters');
const PasswordHash = z.string().transform((text, ctx) => {
  const parsed = parseScryptHash(text);
  if (typeof parsed === 'string') {
    // Not echoed whole: a mistaken value may be the password itself.
    ctx.addIssue({ code: 'custom', input: text.startsWith('scrypt$') ? text.replace(/\$[^$]*$/, '$…') : '(hidden: maybe a password)', message: parsed });
    return z.NEVER;
  }
  return parsed;
});

const Options = z.strictObject({
  /** `name: scrypt$N$r$p$salt$hash`. */
  users: z.record(UserName, PasswordHash).refine((u) => Object.keys(u).length > 0, 'expected at least one user'),
  realm: z
    .string()
    .regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/, 'expected printable characters without " or \\')
    .default('tapgate'),
  /** Send the user's name to the server in this header (a client's own header of that name is always removed). */
  forward_user: HeaderName.optional(),
  /** Remove Authorization from the request sent to the server. */
  strip: z.boolean().default(true),
  /** Successful verifications remembered per (user, password): `ttl: 0` verifies every request. */
  cache: z.strictObject({ ttl: Duration.default(60_000), max: z.number().int().positive().default(1000) }).default({ ttl: 60_000, max: 1000 }),
});
export type BasicAuthOptions = z.output<typeof Options>;

const basic = /^basic +([A-Za-z0-9+/]+={0,2}) *$/i;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The user and password in `Authorization: Basic …`, or undefined when it holds none or something malformed. */
function credentials(ctx: HttpContext): { user: string; password: string } | undefined {
  const m = basic.exec(ctx.header('authorization'));
  if (!m) return undefined;
  let text: string;
  try {
    text = utf8.decode(Buffer.from(m[1]!, 'base64'));
  } catch {
    return undefined;
  }
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  return { user: text.slice(0, colon), password: text.slice(colon + 1) };
}

export default definePlugin({
  name: 'basic-auth',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'HTTP basic authentication against scrypt password hashes, with successful verifications cached briefly; the user in ctx.state.user.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`basic-auth works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const users = new Map<string, ScryptHash>(Object.entries(o.users));
    const decoy = decoyHash(users.values().next().value);
    const cacheKey = randomBytes(32);
    const remembered =
      o.cache.ttl > 0 ? new LRUCache<string, true>({ max: o.cache.max, ttl: o.cache.ttl, ttlResolution: 0, perf: { now: api.now } }) : undefined;
    const pending = new Map<string, Promise<boolean>>();

    const requests = api.metrics.counter('basic_auth_requests_total', 'Requests checked by the basic-auth plugin, by result (accepted, missing, invalid)');
    const counted = {
      accepted: requests.bind({ result: 'accepted' }),
      missing: requests.bind({ result: 'missing' }),
      invalid: requests.bind({ result: 'invalid' }),
    };
    const verifications = api.metrics.counter('basic_auth_verifications_total', 'Password hashes computed by the basic-auth plugin (cache misses)').bind({});
    const challenge: HttpAnswer = {
      status: 401,
      headers: { 'www-authenticate': `Basic realm="${o.realm}", charset="UTF-8"`, 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: `${JSON.stringify({ error: 'unauthorized', error_description: 'a valid user name and password are required' })}\n`,
    };

    /** One scrypt run per (user, password) at a time; successes remembered. */
    const verify = (user: string, password: string): Promise<boolean> => {
      const key = createHmac('sha256', cacheKey).update(user).update('\0').update(password).digest('base64');
      if (remembered?.get(key)) return Promise.resolve(true);
      let running = pending.get(key);
      if (running === undefined) {
        verifications.inc();
        const stored = users.get(user);
        // An unknown user costs the same as a known one: timing does not tell which names exist.
        running = verifyScrypt(password, stored ?? decoy)
          .then((ok) => {
            if (ok && stored) remembered?.set(key, true);
            return ok && stored !== undefined;
          })
          .finally(() => pending.delete(key));
        pending.set(key, running);
      }
      return running;
    };

    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx): Promise<HttpAnswer | undefined> => {
      const given = credentials(ctx);
      if (given === undefined) {
        counted.missing.inc();
        return challenge;
      }
      if (!(await verify(given.user, given.password))) {
        counted.invalid.inc();
        api.log.debug({ request: ctx.id, user: given.user }, 'basic auth refused');
        return challenge;
      }
      counted.accepted.inc();
      ctx.state.user = { name: given.user };
      return undefined;
    });

    const forward = o.forward_user;
    if (forward !== undefined || o.strip) {
      api.hooks.http.upstreamRequest.tap({ name: api.name, stage: Stage.AUTH }, (ctx) => {
        const up = ctx.upstream!;
        if (o.strip) delete up.headers.authorization;
        if (forward !== undefined) {
          // Never the client's own: only a user this plugin verified.
          delete up.headers[forward];
          const name = (ctx.state.user as { name: string } | undefined)?.name;
          if (name !== undefined) up.headers[forward] = /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name);
        }
      });
    }
  },
});
