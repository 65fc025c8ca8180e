// `api.fetch`: the HTTP requests a plugin makes itself (a key set, an authentication
// service, a cache's revalidation), sent through the gateway's own connection pools, so
// they get its TLS, HTTP/2, timeouts and server bookkeeping rather than a client of
// their own. Answers are read whole, bounded in size.
import type { HttpContext } from './index.ts';

/** What a request may say, whatever its target. */
export interface FetchOptions {
  /** `GET` when absent. */
  method?: string;
  /**
   * Names in any case (sent lower-case); undefined values are skipped, so a request's
   * `ctx.headers` fits. Fields of the connection (Connection, Keep-Alive,
   * Transfer-Encoding, Upgrade, TE...) and Content-Length are the gateway's own to write.
   */
  headers?: Readonly<Record<string, string | readonly string[] | undefined>>;
  /** Sent whole, with a Content-Length. */
  body?: string | Uint8Array;
  /** ms for the whole exchange, the response's body included (10 s when absent): then `TIMEOUT`. */
  timeout?: number;
  /** Aborting it ends the exchange: `ABORTED`. */
  signal?: AbortSignal;
  /** Bytes of response body kept at most (1 MiB when absent); a longer body fails with `BODY_TOO_LARGE`. */
  maxBody?: number;
  /** Read the response's body and drop it (a request made for its effect): `body` is then empty, whatever its size. */
  discardBody?: boolean;
}

/**
 * A URL, `http:` or `https:` (HTTP/1.1; TLS verified against Node's roots, or `ca`).
 * Redirects are answers like any other: never followed.
 */
export interface UrlFetch extends FetchOptions {
  url: string;
  /**
   * `listed` (the default): only an origin the configuration names, which is one written
   * in this plugin's own options (its `url`, `jwks_url`...) or a server's address in
   * `backends`; anything else, loopback included, fails with `NOT_ALLOWED`, so a URL that
   * came from a request cannot reach the gateway's neighbours. `any`: whatever the URL
   * says; only for URLs the plugin trusts.
   */
  allow?: 'listed' | 'any';
  /** PEM certificates of the CAs to verify an `https:` server with, instead of Node's roots. */
  ca?: string | readonly string[];
}

/**
 * A backend of the configuration, by name: a server is picked by its balancing algorithm
 * (usable servers only, queued at their maxconn), and when one cannot be reached the
 * next try goes to another, up to the backend's `retries`. Its TLS, protocol (`h2`) and
 * timeouts apply; the request counts in the servers' active and total counts and in
 * passive health checks.
 */
export interface BackendFetch extends FetchOptions {
  backend: string;
  /** Path and query. */
  path: string;
  /** The request this one is made for: the algorithm sees its client address (`source`); `hdr()` and `uri` read this request's own. */
  from?: HttpContext;
}

/**
 * Through a frontend of the configuration, in this process (no socket): its routes and
 * plugins see it as a request, and their answer or the server's comes back. With
 * `from`, it carries that request's client address, local address and TLS facts (so
 * X-Forwarded-Proto says `https` on a TLS frontend) and its Host when `headers` give
 * none. Not written to the access log. A subrequest made for a subrequest is one level
 * deeper; past 4 levels it fails with `LOOP` (which only `from` lets the gateway see).
 */
export interface FrontendFetch extends FetchOptions {
  frontend: string;
  /** Path and query, as a client would send it. */
  path: string;
  from?: HttpContext;
}

/** Where `api.fetch` sends a request: exactly one of `url`, `backend`, `frontend`. */
export type FetchRequest = UrlFetch | BackendFetch | FrontendFetch;

export interface FetchResponse {
  readonly status: number;
  /** Lower-case names; repeated fields joined with ", " (set-cookie stays a list). */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Empty with `discardBody`. */
  readonly body: Buffer;
  /** The body as UTF-8. */
  text(): string;
  /** The body parsed as JSON; throws when it is not. */
  json<T = unknown>(): T;
  /** The server that answered, `backend/server` (a backend's); undefined for a URL or a frontend. */
  readonly server: string | undefined;
}

/**
 * Why a fetch failed. `NOT_ALLOWED`: a URL the configuration does not name. `INVALID`: a
 * request that cannot be sent (no target, a bad URL or field). `UNKNOWN`: no backend or
 * frontend of that name. `NO_SERVER`: none usable, or the queue timed out. `CONNECT`: no
 * server could be reached. `BROKEN`: the server broke the exchange. `TIMEOUT`, `ABORTED`,
 * `BODY_TOO_LARGE`: see `FetchOptions`. `LOOP`: subrequests nested too deep. `CLOSED`:
 * the generation is gone (its plugins were disposed).
 */
export type FetchErrorCode =
  'NOT_ALLOWED' | 'INVALID' | 'UNKNOWN' | 'NO_SERVER' | 'CONNECT' | 'BROKEN' | 'TIMEOUT' | 'ABORTED' | 'BODY_TOO_LARGE' | 'LOOP' | 'CLOSED';

/** What `api.fetch` rejects with; an answer of any status (404, 500) is not an error. */
export class FetchError extends Error {
  override readonly name = 'FetchError';
  constructor(
    readonly code: FetchErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
