// A request and a TCP session as plugins see them. What a plugin may change is said
// field by field (the request's target, the upstream request, the response head, the
// `state` bag); what the kernel records (answer status, error, the route, backend and
// server chosen, termination, byte counts, timings) is read-only here, and the kernel's
// own objects implement these shapes. Deliberately not node:http's IncomingMessage.
import type { Readable } from 'node:stream';
import type { RouteView } from './routes.ts';
import type { BackendView, Detected, ServerView } from './views.ts';

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
  readonly ttfb: number;
  /** ms from start until the response was finished, or -1. */
  readonly total: number;
  /** ms spent waiting in the backend's queue for a server slot (0 when there was no wait). */
  readonly queue: number;
  /** ms spent in plugin taps for this request, summed (the kernel measures every tap). */
  readonly plugins: number;
}

/** A try at a server that failed before the server saw the request; the request went on to another. */
export interface FailedTry {
  readonly server: ServerView;
  /** Two letters, as `termination` (`SC`, `sC`). */
  readonly termination: string;
  readonly error: string;
}

/** An HTTP request on its way through the gateway (HTTP/1 or HTTP/2 alike). */
export interface HttpContext {
  readonly kind: 'http';
  /** Unique in this process: the request's number, base 36. */
  readonly id: string;
  readonly frontend: string;
  /** The generation serving it. */
  readonly generation: number;
  readonly method: string;
  /** The request target as the client sent it (path and query); a plugin may rewrite it before routing (`received`) or in `request`. */
  url: string;
  /** What the client spoke: `1.0`, `1.1`, or `2.0` for HTTP/2 (every other field reads the same whichever). */
  readonly httpVersion: string;
  /** The request's headers as received (names in lower case); change what the server gets through `ctx.upstream` in `upstreamRequest`. */
  readonly headers: HttpHeaders;
  readonly client: { readonly address: string; readonly port: number };
  readonly local: { readonly address: string; readonly port: number };
  /** The client's TLS connection, when the gateway terminated TLS. */
  readonly tls: TlsInfo | undefined;
  /** The path without the query string. */
  readonly path: string;
  readonly query: URLSearchParams;
  /** Host header without the port, lower case. */
  readonly host: string;
  readonly cookies: Readonly<Record<string, string>>;
  /** A header's value as one string ("" when absent). */
  header(name: string): string;
  /** The route taken, once chosen (the frontend's fallback when none matched). */
  readonly route: RouteView | undefined;
  readonly backend: BackendView | undefined;
  /** The server chosen, once one is. */
  readonly server: ServerView | undefined;
  /** The request that will be sent to the server, from `upstreamRequest` on: mutate its path and headers there. */
  readonly upstream: UpstreamRequest | undefined;
  /** Answer status sent to the client; 0 until the head is written. */
  readonly status: number;
  /** Why the request ended badly, when it did (error class name or short reason). */
  readonly error: string | undefined;
  /** Who ended the request badly and in which phase, two letters (see `httpTermination`); '' until then and for a normal end. */
  readonly termination: string;
  /** Tries that failed before the last one (a connection refused, then another server): each server, and why. */
  readonly failedTries: readonly FailedTry[];
  /** Bytes of the request body read from the client (of the tunnel, for an upgrade), and of the response sent. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Further servers tried after a connection failed (redispatches). */
  readonly retries: number;
  readonly timings: Timings;
  /** A bag for plugins to share facts about this request (claims, cache keys...). */
  readonly state: Record<string, unknown>;
  /**
   * Adds a field to this request's access-log line (`cache: 'HIT'`, `jwt_sub`), after the
   * gateway's own. A name the gateway writes itself (`status`, `route`...) is refused with
   * a TypeError. Nothing is allocated until a plugin calls it.
   */
  setLogField(name: string, value: string | number | boolean): void;
  /** What plugins added to the access-log line, if anything. */
  readonly logFields: Readonly<Record<string, string | number | boolean>> | undefined;
}

/** A TCP session (a tcp frontend's connection) on its way through the gateway. */
export interface TcpContext {
  readonly kind: 'tcp';
  readonly id: string;
  readonly frontend: string;
  readonly generation: number;
  readonly client: { readonly address: string; readonly port: number };
  readonly local: { readonly address: string; readonly port: number };
  /** Set from the ClientHello when inspection reads one (TLS passes through untouched). */
  readonly tls: TlsInfo | undefined;
  /** ms (performance.now()) when the connection was accepted. */
  readonly start: number;
  /** The route taken, once chosen (the frontend's fallback when none matched). */
  readonly route: RouteView | undefined;
  /** What inspecting the first bytes found (protocol, SNI, ALPN, Host), when the frontend inspects. */
  readonly detected: Detected | undefined;
  readonly backend: BackendView | undefined;
  readonly server: ServerView | undefined;
  /** Bytes from the client to the server, and back. */
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** ms from accept until the server connection was up, or -1. */
  readonly connectTime: number;
  /** ms from accept until both sides closed, or -1. */
  readonly duration: number;
  /** ms waiting in the backend's queue for a server slot. */
  readonly queueTime: number;
  /** Further servers tried after a connection failed. */
  readonly retries: number;
  /** Why the session ended badly, when it did. */
  readonly error: string | undefined;
  /** Tries that failed before the last one: each server, and why. */
  readonly failedTries: readonly FailedTry[];
  /** A bag for plugins to share facts about this session. */
  readonly state: Record<string, unknown>;
  /**
   * Adds a field to this session's access-log line (`cache: 'HIT'`, `jwt_sub`), after the
   * gateway's own. A name the gateway writes itself (`status`, `route`...) is refused with
   * a TypeError. Nothing is allocated until a plugin calls it.
   */
  setLogField(name: string, value: string | number | boolean): void;
  /** What plugins added to the access-log line, if anything. */
  readonly logFields: Readonly<Record<string, string | number | boolean>> | undefined;
}
