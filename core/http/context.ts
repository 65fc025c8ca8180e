// The kernel's record of one HTTP request: it implements the request as plugins see it
// (sdk/context.ts), and keeps writable what the kernel records.
import type { BackendView, ServerView } from '../../sdk/views.ts';
import type { RouteView } from '../../sdk/routes.ts';
import type { FailedTry, HttpContext as PluginHttpContext, HttpHeaders, Timings as PluginTimings, TlsInfo, UpstreamRequest } from '../../sdk/context.ts';
import { withLogField, type LogFields } from '../log.ts';

/** The timings as the kernel writes them. */
export type Timings = { -readonly [K in keyof PluginTimings]: PluginTimings[K] };

const noTries: readonly FailedTry[] = Object.freeze([]);

let counter = 0;

export class HttpContext implements PluginHttpContext {
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
