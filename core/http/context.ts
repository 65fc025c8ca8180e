// The request as a plugin sees it. Deliberately not node:http's IncomingMessage: the
// server side may run on raw sockets later without any plugin noticing.
import type { Readable } from 'node:stream';
import type { BackendView, ServerView } from '../types.ts';
import type { RouteView } from '../routes.ts';
import { withLogField, type LogFields } from '../log.ts';

/** Header names are lower case. Repeated headers are joined with ", " (set-cookie stays a list). */
export type HttpHeaders = Record<string, string | string[] | undefined>;

/** A response a plugin gives instead of the server's (auth refusal, cache hit, redirect). */
export interface HttpAnswer {
  status: number;
  headers?: HttpHeaders;
  body?: string | Uint8Array | Readable | null;
}

/** The request that will be sent to the server; mutate it in `upstreamRequest`. */
export interface UpstreamRequest {
  method: string;
  /** Path and query, as sent on the request line. */
  path: string;
  headers: HttpHeaders;
}

export interface BodyObserver {
  data(chunk: Uint8Array): void;
  end(): void;
  error?(err: Error): void;
}

/** The server's response head; mutate status and headers in `upstreamResponse`. */
export interface UpstreamResponse {
  status: number;
  headers: HttpHeaders;
  /** See every body chunk as it streams to the client (a cache stores it this way). */
  onBody(observer: BodyObserver): void;
  /**
   * Send `body` to the client instead of the server's body, which is read and dropped
   * (a cache answering a server's 304 with the response it stored). Content-Length is
   * set to match, except on 204 and 304.
   */
  replaceBody(body: Uint8Array): void;
}

/**
 * The client's TLS connection. When the gateway terminates TLS, every fact of the
 * handshake; when a tcp frontend only inspects a ClientHello (TLS passing through),
 * `sni` and `alpn` alone.
 */
export interface TlsInfo {
  /** The host name the client asked for (SNI). */
  readonly sni?: string;
  /** The protocol agreed by ALPN, e.g. `http/1.1`. */
  readonly alpn?: string;
  /** `TLSv1.2` or `TLSv1.3`. */
  readonly version?: string;
  /** The cipher suite's IANA name, e.g. `TLS_AES_256_GCM_SHA384`. */
  readonly cipher?: string;
  /** The certificate the client presented (mutual TLS: `client_ca`). */
  readonly clientCert?: ClientCertificate;
}

export interface ClientCertificate {
  /** Its subject, e.g. `C=FR, O=Example, CN=alice`. */
  readonly subject: string;
  readonly issuer: string;
  /** SHA-256 fingerprint, `AB:CD:...`. */
  readonly fingerprint256: string;
  readonly serialNumber: string;
  /** It was verified against `client_ca` (always true with `client_verify: required`). */
  readonly authorized: boolean;
  /** Why it was not, e.g. `CERT_HAS_EXPIRED`. */
  readonly error?: string;
}

export interface Timings {
  /** performance.now() when the request head was parsed. */
  readonly start: number;
  /** ms from start until the server answered with a head (time to first byte), or -1. */
  ttfb: number;
  /** ms from start until the response was finished, or -1. */
  total: number;
  /** ms spent waiting in the backend's queue for a server slot (0 when there was no wait). */
  queue: number;
  /** ms spent in plugin taps for this request, summed (the kernel measures every tap). */
  plugins: number;
}

/** A try at a server that failed before the server saw the request; the request went on to another. */
export interface FailedTry {
  readonly server: ServerView;
  /** Two letters, as `termination` (`SC`, `sC`). */
  readonly termination: string;
  readonly error: string;
}

const noTries: readonly FailedTry[] = Object.freeze([]);

let counter = 0;

export class HttpContext {
  readonly kind = 'http' as const;
  /** This process's count of requests when this one came (its id, written when first asked for). */
  readonly #seq: number;
  #id: string | undefined = undefined;
  /** The route taken, once chosen (the frontend's fallback when none matched). */
  route: RouteView | undefined = undefined;
  /** Answer status sent to the client; 0 until the head is written. */
  status = 0;
  backend: BackendView | undefined = undefined;
  server: ServerView | undefined = undefined;
  upstream: UpstreamRequest | undefined = undefined;
  /** Why the request ended badly, when it did (error class name or short reason). */
  error: string | undefined = undefined;
  /**
   * Who ended the request badly and in which phase, two letters (core/termination.ts;
   * the README's table): '' until then, and for a normal end. Set by the kernel.
   */
  termination = '';
  /** Tries that failed before the last one (a connection refused, then another server): each server, and why. */
  failedTries: readonly FailedTry[] = noTries;
  /** Bytes of the request body read from the client (of the tunnel, for an upgrade). */
  bytesIn = 0;
  bytesOut = 0;
  /** Further servers tried after a connection failed (redispatches). */
  retries = 0;
  readonly timings: Timings;
  /** A bag for plugins to share facts about this request (claims, cache keys...). */
  readonly state: Record<string, unknown> = {};
  #logFields: LogFields | undefined = undefined;
  #query: URLSearchParams | undefined;
  #cookies: Record<string, string> | undefined;
  #path: string | undefined;
  #host: string | undefined;

  constructor(
    readonly frontend: string,
    readonly generation: number,
    readonly method: string,
    /** The request target as the client sent it (path and query). */
    public url: string,
    /** What the client spoke: `1.0`, `1.1`, or `2.0` for HTTP/2 (every other field reads the same whichever). */
    readonly httpVersion: string,
    readonly headers: HttpHeaders,
    readonly client: { readonly address: string; readonly port: number },
    readonly local: { readonly address: string; readonly port: number },
    readonly tls: TlsInfo | undefined,
    start: number,
  ) {
    this.#seq = ++counter;
    this.timings = { start, ttfb: -1, total: -1, queue: 0, plugins: 0 };
  }

  /** Unique in this process: the request's number, base 36. */
  get id(): string {
    return (this.#id ??= this.#seq.toString(36));
  }

  /** The path without the query string. */
  get path(): string {
    if (this.#path === undefined) {
      const q = this.url.indexOf('?');
      this.#path = q === -1 ? this.url : this.url.slice(0, q);
    }
    return this.#path;
  }

  get query(): URLSearchParams {
    if (this.#query === undefined) {
      const q = this.url.indexOf('?');
      this.#query = new URLSearchParams(q === -1 ? '' : this.url.slice(q + 1));
    }
    return this.#query;
  }

  /** Host header without the port, lower case. */
  get host(): string {
    if (this.#host === undefined) {
      const h = this.headers.host;
      const host = (Array.isArray(h) ? h[0] : h) ?? '';
      const end = host.startsWith('[') ? host.indexOf(']') + 1 : host.lastIndexOf(':');
      this.#host = (end > 0 ? host.slice(0, end) : host).toLowerCase();
    }
    return this.#host;
  }

  get cookies(): Readonly<Record<string, string>> {
    if (this.#cookies === undefined) {
      const out: Record<string, string> = {};
      const raw = this.headers.cookie;
      for (const line of Array.isArray(raw) ? raw : raw ? [raw] : []) {
        for (const part of line.split(';')) {
          const eq = part.indexOf('=');
          if (eq <= 0) continue;
          const name = part.slice(0, eq).trim();
          if (!(name in out)) out[name] = part.slice(eq + 1).trim();
        }
      }
      this.#cookies = out;
    }
    return this.#cookies;
  }

  /** A header's value as one string ("" when absent). */
  header(name: string): string {
    const v = this.headers[name.toLowerCase()];
    return v === undefined ? '' : Array.isArray(v) ? v.join(', ') : v;
  }

  /**
   * Adds `name: value` to this request's access-log line, after the gateway's own fields
   * (`cache: "HIT"`); the same name again replaces it. A name the gateway writes itself
   * (`status`, `route`...) is refused with a TypeError. Nothing is allocated until a
   * plugin calls it.
   */
  setLogField(name: string, value: string | number | boolean): void {
    this.#logFields = withLogField(this.#logFields, name, value);
  }

  /** What plugins added to the access-log line, if anything. */
  get logFields(): Readonly<LogFields> | undefined {
    return this.#logFields;
  }
}
