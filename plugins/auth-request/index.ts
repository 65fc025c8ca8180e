// Authentication by an external service, as nginx's auth_request and Traefik's forwardAuth
// do it: before a request goes on, the gateway asks `url` (GET by default) with the
// client's credentials (Authorization, Cookie) and what the request is (X-Forwarded-Method,
// -Uri, -Host, -For, -Proto), never its body. A 2xx lets it through, with chosen headers of
// that answer (`x-user`) copied into the request sent to the server; a refusal (401, 403,
// or a redirect to a login page when listed) goes back to the client with the service's
// WWW-Authenticate / Location; no answer in time, or any other status, refuses the request
// (503, 500) unless `on_error: allow`. Answers may be cached per credentials for a while.
import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { performance } from 'node:perf_hooks';
import { LRUCache } from 'lru-cache';
import { definePlugin, Duration, HeaderName, Stage, z, type FetchResponse, type HttpAnswer, type HttpContext, type HttpHeaders } from '../../sdk/index.ts';

const Url = z.string().refine((v) => {
  try {
    const url = new URL(v);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '';
  } catch {
    return false;
  }
}, 'expected an http:// or https:// URL, e.g. http://127.0.0.1:4181/auth');
/** A client header worth sending along; Host is the service's own (the client's is in X-Forwarded-Host). */
const ForwardedHeader = HeaderName.refine((name) => name !== 'host', "expected a header other than host (the client's Host is sent as x-forwarded-host)");
/** What the gateway always tells the service about the request. */
const describing = ['x-forwarded-method', 'x-forwarded-uri', 'x-forwarded-host', 'x-forwarded-for', 'x-forwarded-proto'] as const;

const Options = z
  .strictObject({
    /** The service to ask. */
    url: Url,
    method: z
      .string()
      .regex(/^[A-Z]+$/, 'expected a method in capitals, e.g. GET')
      .default('GET'),
    /** Client headers sent to the service (besides the X-Forwarded-* ones describing the request). */
    forward_headers: z.array(ForwardedHeader).default(['authorization', 'cookie']),
    /** Headers of the service's 2xx answer copied into the request sent to the server; a client's own are always removed. */
    upstream_headers: z.array(HeaderName).default([]),
    /** Statuses of the service passed on to the client as they are (add 302 to send clients to a login page). */
    refusal_statuses: z.array(z.number().int().min(300).max(499)).min(1).default([401, 403]),
    /** Headers of such a refusal passed on to the client. */
    refusal_headers: z.array(HeaderName).default(['www-authenticate', 'location']),
    timeout: Duration.refine((ms) => ms > 0, 'expected a timeout above 0').default(2_000),
    /** When the service does not answer in time or answers something else: refuse (503, 500), or let the request through. */
    on_error: z.enum(['deny', 'allow']).default('deny'),
    /** How long an answer (allowed or refused) is reused for the same `cache_key`; 0: ask every time. */
    cache_ttl: Duration.default(0),
    /** Headers of the request to the service that make up the cache key (add x-forwarded-uri when the service decides per path). */
    cache_key: z.array(HeaderName).min(1).default(['authorization', 'cookie']),
    cache_max: z.number().int().positive().default(10_000),
    /** Questions to the service at once, per worker (so keep-alive connections to it); more wait their turn within `timeout`. */
    connections: z.number().int().positive().max(256).default(8),
  })
  .superRefine((o, ctx) => {
    const sent = new Set<string>([...o.forward_headers, ...describing]);
    o.cache_key.forEach((name, i) => {
      if (!sent.has(name))
        ctx.addIssue({
          code: 'custom',
          path: ['cache_key', i],
          input: name,
          message: `expected a header sent to the service: one of forward_headers or ${describing.join(', ')}`,
        });
    });
  });
export type AuthRequestOptions = z.output<typeof Options>;

/** What the service said, as the gateway acts on it (and caches it). */
type Decision = { allow: true; headers: readonly (readonly [string, string])[] } | { allow: false; answer: HttpAnswer };

const reason = (status: number) => (STATUS_CODES[status] ?? 'refused').toLowerCase();
const jsonAnswer = (status: number, description: string, headers: HttpHeaders = {}): HttpAnswer => ({
  status,
  headers: { ...headers, 'content-type': 'application/json', 'cache-control': 'no-store' },
  body: `${JSON.stringify({ error: reason(status), error_description: description })}\n`,
});
const first = (v: string | string[] | undefined) => (Array.isArray(v) ? v.join(', ') : v);

export default definePlugin({
  name: 'auth-request',
  version: '1.0.0',
  gateway: '^0.1',
  description:
    'Asks an external service whether a request may pass (nginx auth_request, Traefik forwardAuth); copies its identity headers upstream; answers cached when asked.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`auth-request works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    // The service is asked through api.fetch: the gateway's HTTP/1.1 pool for its origin (named by `url`, so allowed).
    let asking = 0;
    const waiting: (() => void)[] = [];
    const cache =
      o.cache_ttl > 0 ? new LRUCache<string, Decision>({ max: o.cache_max, ttl: o.cache_ttl, ttlResolution: 0, perf: { now: api.now } }) : undefined;
    const refusals = new Set(o.refusal_statuses);
    /** Per request: the service's headers to copy into the upstream request. */
    const granted = new WeakMap<HttpContext, readonly (readonly [string, string])[]>();

    const requests = api.metrics.counter(
      'auth_request_requests_total',
      'Requests checked by the auth-request plugin, by result (allowed, refused, error) and whether the answer came from the cache',
    );
    const counted = {
      allowed: requests.bind({ result: 'allowed', cached: 'no' }),
      refused: requests.bind({ result: 'refused', cached: 'no' }),
      error: requests.bind({ result: 'error', cached: 'no' }),
      allowedCached: requests.bind({ result: 'allowed', cached: 'yes' }),
      refusedCached: requests.bind({ result: 'refused', cached: 'yes' }),
    };

    const headersFor = (ctx: HttpContext): Record<string, string> => {
      const out: Record<string, string> = {};
      for (const name of o.forward_headers) {
        const value = ctx.header(name);
        if (value !== '') out[name] = value;
      }
      // The request as the gateway saw it: a client's own X-Forwarded-* are not believed.
      out['x-forwarded-method'] = ctx.method;
      out['x-forwarded-uri'] = ctx.url;
      out['x-forwarded-host'] = ctx.header('host');
      out['x-forwarded-for'] = ctx.client.address;
      out['x-forwarded-proto'] = ctx.tls ? 'https' : 'http';
      return out;
    };

    /** A turn to ask, at most `connections` at once (a turn ending is handed to the next in line): false when none came within `ms`. */
    const turn = (ms: number): Promise<boolean> | boolean => {
      if (asking < o.connections) {
        asking++;
        return true;
      }
      return new Promise((resolve) => {
        const go = () => {
          clearTimeout(timer);
          resolve(true);
        };
        const timer = setTimeout(() => {
          waiting.splice(waiting.indexOf(go), 1);
          resolve(false);
        }, ms);
        waiting.push(go);
      });
    };

    /** Asks the service; an Error when it could not answer in time or answered something unexpected. */
    const ask = async (headers: Record<string, string>): Promise<Decision | Error> => {
      const noAnswer = (why: string) => Object.assign(new Error(`no answer from ${o.url}: ${why}`), { status: 503 });
      const started = performance.now();
      if (!(await turn(o.timeout))) return noAnswer(`all ${o.connections} connections to it were busy for ${o.timeout} ms`);
      let res: FetchResponse;
      try {
        // The time spent waiting for a turn counts against the timeout.
        const timeout = Math.max(1, o.timeout - (performance.now() - started));
        res = await api.fetch({ url: o.url, method: o.method, headers, timeout, discardBody: true });
      } catch (err) {
        return noAnswer((err as Error).message);
      } finally {
        const next = waiting.shift();
        if (next) next();
        else asking--;
      }
      const status = res.status;
      if (status >= 200 && status < 300) {
        const copied: (readonly [string, string])[] = [];
        for (const name of o.upstream_headers) {
          const value = first(res.headers[name]);
          if (value !== undefined) copied.push([name, value]);
        }
        return { allow: true, headers: copied };
      }
      if (refusals.has(status)) {
        const passed: HttpHeaders = {};
        for (const name of o.refusal_headers) if (res.headers[name] !== undefined) passed[name] = res.headers[name];
        return { allow: false, answer: jsonAnswer(status, status >= 400 ? 'refused by the authentication service' : 'see the location given', passed) };
      }
      return Object.assign(new Error(`${o.url} answered ${status}`), { status: 500 });
    };

    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx): Promise<HttpAnswer | undefined> => {
      const headers = headersFor(ctx);
      const key =
        cache &&
        createHash('sha256')
          .update(JSON.stringify(o.cache_key.map((name) => headers[name] ?? null)))
          .digest('base64');
      let decision = key === undefined ? undefined : cache!.get(key);
      if (decision) (decision.allow ? counted.allowedCached : counted.refusedCached).inc();
      else {
        const asked = await ask(headers);
        if (asked instanceof Error) {
          counted.error.inc();
          api.log.warn(
            { request: ctx.id, err: asked.message },
            o.on_error === 'allow' ? 'authentication service failed; request let through (on_error: allow)' : 'authentication service failed; request refused',
          );
          if (o.on_error === 'allow') return undefined;
          const status = (asked as Error & { status: number }).status;
          return jsonAnswer(status, status === 503 ? 'the authentication service did not answer' : 'the authentication service answered unexpectedly');
        }
        decision = asked;
        (decision.allow ? counted.allowed : counted.refused).inc();
        if (key !== undefined) cache!.set(key, decision);
      }
      if (!decision.allow) return decision.answer;
      granted.set(ctx, decision.headers);
      ctx.state.authRequest = { headers: Object.fromEntries(decision.headers) };
      return undefined;
    });

    if (o.upstream_headers.length) {
      api.hooks.http.upstreamRequest.tap({ name: api.name, stage: Stage.AUTH }, (ctx) => {
        const up = ctx.upstream!;
        // Never the client's own: only what the service said.
        for (const name of o.upstream_headers) delete up.headers[name];
        for (const [name, value] of granted.get(ctx) ?? []) up.headers[name] = value;
      });
    }
  },
});
