// JWT authentication: a bearer token (or one in a configured header, cookie or query
// parameter) verified against local keys, a remote JWKS or an HMAC secret, with an
// allow-list of algorithms, time, issuer and audience checks, required claims and claim
// rules. A refusal is RFC 6750's: 401 with `WWW-Authenticate: Bearer ... error="invalid_token"`,
// or 403 `insufficient_scope` for a good token lacking a claim. The claims land in
// `ctx.state.claims`, and may be sent to the server as headers.
//
// On a route it checks on `request` (Stage.AUTH). On a frontend (or gateway-wide) it
// checks on `received`, before routing, so that routes can match on claims: the
// companion `jwt-claims` (autoloaded) registers the `claim` matcher they use.
import { isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { definePlugin, Duration, HeaderName, Size, Stage, z, type HttpAnswer, type HttpContext, type HttpHeaders } from '../../sdk/index.ts';
import { claimMatcher, ClaimRules, compileRules, readClaim } from './claims.ts';
import { asymmetricAlgorithms, fetchJwks, hmacAlgorithms, KeySet, loadLocalKeys, RemoteJwks, type KeySource } from './keys.ts';
import { createVerifier, secretKey, type Outcome } from './verify.ts';

const OneOrMore = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);
const knownAlgorithms: readonly string[] = [...asymmetricAlgorithms, ...hmacAlgorithms];
/** An HMAC secret as long as the algorithm's hash at least (RFC 7518 §3.2): shorter, it is the weak link. */
const secretBytes: Record<string, number> = { HS256: 32, HS384: 48, HS512: 64 };
/** The HMAC algorithms a secret of this many bytes is long enough for. */
const hmacFor = (bytes: number) => hmacAlgorithms.filter((alg) => bytes >= secretBytes[alg]!);

const KeyEntry = z.union([
  z
    .string()
    .min(1)
    .transform((file): KeySource => ({ file })),
  z.strictObject({ file: z.string().min(1), kid: z.string().min(1).optional(), alg: z.enum(asymmetricAlgorithms).optional() }),
  z.strictObject({ jwk: z.record(z.string(), z.unknown()) }),
]);

const loopback = (host: string) => host === 'localhost' || (isIP(host.replace(/^\[|\]$/g, '')) !== 0 && /^(127\.|::1$|\[::1\]$)/.test(host));
const JwksUrl = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return url.protocol === 'https:' || (url.protocol === 'http:' && loopback(url.hostname));
  } catch {
    return false;
  }
}, 'expected an https:// URL (http:// only to a loopback address)');

/** Where the token is read from. */
const TokenSource = z.union([
  z.strictObject({
    header: HeaderName,
    scheme: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9._~+/-]*$/)
      .optional(),
  }),
  z.strictObject({ cookie: z.string().min(1) }),
  z.strictObject({ query: z.string().min(1) }),
]);

const Options = z
  .strictObject({
    /** Local keys: files (PEM public key or certificate, JWK, JWKS; relative to the config) or inline `{ jwk }`. */
    keys: z.array(KeyEntry).default([]),
    /** A remote JWKS, fetched, kept and refreshed. */
    jwks_url: JwksUrl.optional(),
    jwks_cache: z
      .strictObject({
        /** A document older than this is fetched again in the background. */
        max_age: Duration.default(10 * 60_000),
        /** Fetches at most this often, also when tokens name unknown kids. */
        cooldown: Duration.default(30_000),
        timeout: Duration.default(5_000),
      })
      .default({ max_age: 10 * 60_000, cooldown: 30_000, timeout: 5_000 }),
    /** HMAC secret, as long as the hash at least: 32 bytes for HS256, 48 for HS384, 64 for HS512; or `secret_file`. Only then are HS* tokens accepted. */
    secret: z.string().min(32, 'expected a secret of 32 bytes at least').optional(),
    secret_file: z.string().min(1).optional(),
    /** Allowed `alg` values; default: what the keys can verify (and HS* with a secret). `none` never. */
    algorithms: z.array(z.string()).min(1).optional(),
    issuer: OneOrMore.optional(),
    audience: OneOrMore.optional(),
    /** The JOSE header `typ` tokens must carry, e.g. `at+jwt` (RFC 9068). */
    typ: z.string().min(1).optional(),
    clock_skew: Duration.default(30_000),
    /** Tokens without `exp` are refused (they would never expire). */
    require_exp: z.boolean().default(true),
    /** Claims that must be present: a token without one gets 403. */
    required_claims: z.array(z.string().min(1)).default([]),
    /** Claim rules (as the `claim` matcher's): a token failing one gets 403. */
    claims: ClaimRules.optional(),
    max_token_size: Size.default(8 * 1024),
    /** Tokens remembered after a successful check (LRU): the same token again skips the signature, while exp, nbf and its key are checked anew; 0 remembers none. */
    verified_tokens: z.number().int().min(0).max(1_000_000).default(10_000),
    from: TokenSource.default({ header: 'authorization' }),
    realm: z
      .string()
      .regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/, 'expected printable characters without " or \\')
      .default('tapgate'),
    /** Claims sent to the server as headers: `{ sub: x-user-id }`. A client's own header of that name is always removed. */
    forward: z.record(z.string().min(1), HeaderName).default({}),
    /** Remove the token (header, cookie or query parameter) from the request sent to the server. */
    strip: z.boolean().default(false),
  })
  .superRefine((o, ctx) => {
    const issue = (path: (string | number)[], message: string) => ctx.addIssue({ code: 'custom', path, input: o, message });
    const hasSecret = o.secret !== undefined || o.secret_file !== undefined;
    if (o.secret !== undefined && o.secret_file !== undefined) issue(['secret_file'], 'expected either `secret` or `secret_file`, not both');
    if (!o.keys.length && o.jwks_url === undefined && !hasSecret)
      issue([], 'expected keys to verify with: `keys` (files or JWKs), `jwks_url`, or `secret` (HS256)');
    o.algorithms?.forEach((alg, i) => {
      if (alg.toLowerCase() === 'none') issue(['algorithms', i], 'alg "none" (unsigned tokens) is never accepted');
      else if (!knownAlgorithms.includes(alg)) issue(['algorithms', i], `unknown algorithm "${alg}": expected one of ${knownAlgorithms.join(', ')}`);
      else if (alg.startsWith('HS') && !hasSecret) issue(['algorithms', i], `${alg} needs a \`secret\`: HMAC is never checked with a public key`);
      else if (alg.startsWith('HS') && o.secret !== undefined && Buffer.byteLength(o.secret) < secretBytes[alg]!)
        issue(
          ['algorithms', i],
          `${alg} needs a secret of ${secretBytes[alg]} bytes at least (its hash's length); \`secret\` has ${Buffer.byteLength(o.secret)}`,
        );
      else if (!alg.startsWith('HS') && !o.keys.length && o.jwks_url === undefined)
        issue(['algorithms', i], `${alg} needs public keys (\`keys\` or \`jwks_url\`)`);
    });
  });
export type JwtOptions = z.output<typeof Options>;

/** The token in the request, or undefined when there is none where the config says it is. */
function tokenReader(from: JwtOptions['from']): (ctx: HttpContext) => string | undefined {
  if ('cookie' in from) return (ctx) => ctx.cookies[from.cookie] || undefined;
  if ('query' in from) return (ctx) => ctx.query.get(from.query) || undefined;
  const name = from.header;
  const scheme = from.scheme ?? (name === 'authorization' ? 'Bearer' : undefined);
  if (scheme === undefined) return (ctx) => ctx.header(name).trim() || undefined;
  const pattern = new RegExp(`^${scheme.replace(/[.+/]/g, '\\$&')} +(\\S+) *$`, 'i');
  return (ctx) => pattern.exec(ctx.header(name))?.[1];
}

/** Removes the token from the request to the server. */
function tokenStripper(from: JwtOptions['from']): (headers: HttpHeaders, path: string) => string {
  // Unset, not deleted (a delete makes the headers a slow dictionary); unset headers are not sent.
  if ('header' in from) return (headers, path) => ((headers[from.header] = undefined), path);
  if ('cookie' in from) {
    return (headers, path) => {
      const raw = headers.cookie;
      const kept = [raw ?? []]
        .flat()
        .flatMap((line) => line.split(';'))
        .filter((part) => part.split('=')[0]!.trim() !== from.cookie);
      if (kept.length) headers.cookie = kept.map((p) => p.trim()).join('; ');
      else delete headers.cookie;
      return path;
    };
  }
  return (_headers, path) => {
    const q = path.indexOf('?');
    if (q === -1) return path;
    const name = (part: string) => {
      try {
        return decodeURIComponent(part.split('=')[0]!.replace(/\+/g, ' '));
      } catch {
        return part;
      }
    };
    const kept = path
      .slice(q + 1)
      .split('&')
      .filter((part) => name(part) !== from.query);
    return kept.length ? `${path.slice(0, q)}?${kept.join('&')}` : path.slice(0, q);
  };
}

/** A claim as a header value: strings as they are, other values as JSON; percent-encoded when not plain ASCII. */
function headerValue(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  const s = typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : JSON.stringify(v);
  return /^[\x20-\x7e]*$/.test(s) ? s : encodeURIComponent(s);
}

const json = (o: object) => `${JSON.stringify(o)}\n`;

export default definePlugin({
  name: 'jwt',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'JWT bearer authentication (jose): local keys, remote JWKS with rotation, allow-listed algorithms, claim checks; claims in ctx.state.claims.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`jwt works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const local = loadLocalKeys(o.keys as KeySource[], api.dir);
    const skipped = api.metrics.counter(
      'jwt_jwks_keys_skipped_total',
      'Keys of a fetched JWKS left out: weak (short or ROCA modulus, low exponent), or not usable',
    );
    const remote =
      o.jwks_url === undefined
        ? undefined
        : new RemoteJwks({
            url: o.jwks_url,
            maxAge: o.jwks_cache.max_age,
            cooldown: o.jwks_cache.cooldown,
            timeout: o.jwks_cache.timeout,
            now: api.now,
            log: api.log,
            fetch: api.fetch,
            skipped: () => skipped.inc(),
          });
    let secret = o.secret === undefined ? undefined : Buffer.from(o.secret, 'utf8');
    if (o.secret_file !== undefined) {
      try {
        secret = Buffer.from(readFileSync(resolve(api.dir, o.secret_file), 'utf8').trim(), 'utf8');
      } catch (err) {
        throw new Error(`secret_file (${o.secret_file}): ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'unreadable'}`);
      }
      if (secret.length < 32) throw new Error(`secret_file (${o.secret_file}): expected a secret of 32 bytes at least`);
      const short = o.algorithms?.find((alg) => alg.startsWith('HS') && secret!.length < secretBytes[alg]!);
      if (short) throw new Error(`secret_file (${o.secret_file}): ${short} needs a secret of ${secretBytes[short]} bytes at least; it has ${secret.length}`);
    }
    // Default: what the configured keys can verify (any asymmetric alg when keys come from a URL), and HMAC only with a secret long enough.
    const algorithms = new Set(
      o.algorithms ?? [
        ...(remote ? asymmetricAlgorithms : new Set(local.flatMap((k) => [...k.algorithms]))),
        ...(secret !== undefined ? hmacFor(secret.length) : []),
      ],
    );
    const verify = createVerifier({
      keys: new KeySet(local, remote),
      secret: secret === undefined ? undefined : secretKey(secret),
      algorithms,
      maxSize: o.max_token_size,
      cacheSize: o.verified_tokens,
      clockSkewSeconds: o.clock_skew / 1000,
      issuer: o.issuer,
      audience: o.audience,
      typ: o.typ,
      requireExp: o.require_exp,
      required: o.required_claims,
      rules: o.claims && compileRules(o.claims),
      now: api.now,
    });
    const readToken = tokenReader(o.from);

    const requests = api.metrics.counter(
      'jwt_requests_total',
      'Requests checked by the jwt plugin, by result (accepted, missing, invalid, forbidden, unavailable)',
    );
    const counted = {
      unavailable: requests.bind({ result: 'unavailable' }),
      accepted: requests.bind({ result: 'accepted' }),
      missing: requests.bind({ result: 'missing' }),
      invalid: requests.bind({ result: 'invalid' }),
      forbidden: requests.bind({ result: 'forbidden' }),
    };
    const realm = `Bearer realm="${o.realm}"`;
    const answer = (status: number, challenge: string, body: string): HttpAnswer => ({
      status,
      headers: { 'www-authenticate': challenge, 'content-type': 'application/json', 'cache-control': 'no-store' },
      body,
    });
    const missingBody = json({ error: 'unauthorized', error_description: 'a bearer token is required' });
    const unavailableBody = json({ error: 'temporarily_unavailable', error_description: 'the keys to verify the token are not known yet' });

    const decide = (ctx: HttpContext, outcome: Outcome): HttpAnswer | undefined => {
      if (outcome.ok) {
        counted.accepted.inc();
        ctx.state.claims = outcome.claims;
        if (typeof outcome.claims.sub === 'string') ctx.setLogField('jwt_sub', outcome.claims.sub);
        return undefined;
      }
      // No key for it while the JWKS has never answered: not the client's fault, so no 401.
      if (remote && !remote.known && outcome.description === 'unknown key' && outcome.reason !== 'unusable kid') {
        counted.unavailable.inc();
        return {
          status: 503,
          headers: { 'retry-after': String(remote.retryAfter()), 'content-type': 'application/json', 'cache-control': 'no-store' },
          body: unavailableBody,
        };
      }
      (outcome.status === 403 ? counted.forbidden : counted.invalid).inc();
      api.log.debug({ request: ctx.id, description: outcome.description, reason: outcome.reason }, 'token refused');
      return answer(
        outcome.status,
        `${realm}, error="${outcome.error}", error_description="${outcome.description}"`,
        json({ error: outcome.error, error_description: outcome.description }),
      );
    };
    // Not async: a remembered token is decided in the same turn, with no promise (see EagerBailHook).
    const check = (ctx: HttpContext): HttpAnswer | undefined | Promise<HttpAnswer | undefined> => {
      const token = readToken(ctx);
      if (token === undefined) {
        counted.missing.inc();
        return answer(401, realm, missingBody);
      }
      const outcome = verify(token);
      return outcome instanceof Promise ? outcome.then((o) => decide(ctx, o)) : decide(ctx, outcome);
    };
    // Before routing on a frontend (routes may match on claims); on a route, once it is chosen.
    const hook = api.scope.kind === 'route' ? api.hooks.http.request : api.hooks.http.received;
    hook.tapPromise({ name: api.name, stage: Stage.AUTH }, check);

    const forward = Object.entries(o.forward);
    const strip = o.strip ? tokenStripper(o.from) : undefined;
    if (forward.length || strip) {
      api.hooks.http.upstreamRequest.tap(api.name, (ctx) => {
        const up = ctx.upstream!;
        const claims = ctx.state.claims as Record<string, unknown> | undefined;
        for (const [claim, header] of forward) {
          // Never the client's own: only what a verified token says.
          delete up.headers[header];
          const value = claims && headerValue(readClaim(claims, claim));
          if (value !== undefined) up.headers[header] = value;
        }
        if (strip) up.path = strip(up.headers, up.path);
      });
    }

    if (remote) api.hooks.app.ready.tap(api.name, () => void remote.refresh());
    return () => remote?.close();
  },
  // The check tries the JWKS: one that does not answer now leaves tokens needing its keys
  // with 503 until it does; keys it would leave out are named.
  async probe(api, o) {
    if (o.jwks_url === undefined) return;
    const skipped: string[] = [];
    try {
      const keys = await fetchJwks({ url: o.jwks_url, timeout: o.jwks_cache.timeout, fetch: api.fetch }, undefined, (why) => skipped.push(why));
      const warnings = skipped.map((why) => ({ path: ['jwks_url'], message: `the JWKS at ${o.jwks_url} has a key that will be left out: ${why}` }));
      if (!keys.length) warnings.push({ path: ['jwks_url'], message: `the JWKS at ${o.jwks_url} has no usable key: every token needing one gets 401` });
      return warnings;
    } catch (err) {
      return [
        {
          path: ['jwks_url'],
          message: `the JWKS at ${o.jwks_url} does not answer now (${(err as Error).message}): tokens needing its keys get 503 until it does`,
        },
      ];
    }
  },
});

/** Autoloaded with every configuration: the `claim` route matcher, reading what a frontend's jwt plugin verified. */
export const jwtClaims = definePlugin({
  name: 'jwt-claims',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'The `claim` route matcher: match: { claim: { role: admin } } on the claims the jwt plugin verified before routing.',
  autoload: true,
  extensions: [claimMatcher],
});
