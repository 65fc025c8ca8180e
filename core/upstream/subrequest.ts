// `api.fetch` (sdk/fetch.ts): plugins' own HTTP requests, on the gateway's own pools. To a
// backend by name: placed and retried as a proxied request is (pick among usable servers,
// queue at maxconn, another server when one cannot be reached), on the server's pool (its
// TLS, HTTP/2, timeouts, active counts, passive health). To a URL: an HTTP/1.1 pool per
// origin, kept for the generation; only origins the configuration names unless the plugin
// says otherwise. Through a frontend: handed to the request lifecycle in this process as
// if a client had sent it, so routes, plugins and TLS facts apply and nothing goes
// through a socket to ourselves.
import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import {
  FetchError,
  type BackendFetch,
  type FetchErrorCode,
  type FetchRequest,
  type FetchResponse,
  type FrontendFetch,
  type UrlFetch,
} from '../../sdk/fetch.ts';
import type { Generation } from '../generation.ts';
import { HttpContext } from '../http/context.ts';
import { type HttpHeaders } from '../../sdk/context.ts';
import type { ClientRequest, ClientResponse, Peer } from '../http/exchange.ts';
import { checkName, checkRequestLine, checkValue } from '../http/fields.ts';
import { handleHttpRequest, type HttpEnv } from '../http/proxy.ts';
import { hopByHop } from '../../sdk/http.ts';
import { formatAddress } from '../../sdk/units.ts';
import type { ServerTls } from '../tls/origination.ts';
import { resolveBackendTimeouts, type Backend, type UpstreamServer } from './backend.ts';
import { bufferedRequest, type BufferedAnswer, type BufferLimits, type Ending } from './buffered.ts';
import { H1Pool, type DispatchOptions } from './h1-pool.ts';
import { Dispatch, connectErrors, connectFailure } from './dispatch.ts';

const defaultTimeout = 10_000;
const defaultMaxBody = 1024 * 1024;
/** Subrequests through a frontend made for subrequests, at most (a plugin fetching through its own frontend on every request would never end). */
const maxDepth = 4;
/** URL pools kept at most; past it the oldest closes (a plugin fetching `allow: 'any'` URLs must not collect connections). */
const maxUrlPools = 64;
/** Subrequests are no client's: no access-log line, and never drained. */
const subrequestEnv: HttpEnv = { accessLog: undefined, draining: false };
const loopback: Peer = Object.freeze({ address: '127.0.0.1', port: 0 });

/** One generation's `api.fetch`: its URL pools, and how deep each subrequest through a frontend is. */
export class Subrequests {
  readonly #urlPools = new Map<string, H1Pool>();
  /** The origins of the configuration's servers, made on first use once the backends are built. */
  #serverOrigins: Set<string> | undefined;
  /** A subrequest's depth, by the client peer its context carries (the context is made from the request inside the lifecycle). */
  readonly #depth = new WeakMap<object, number>();
  #closed = false;

  constructor(private readonly gen: Generation) {}

  /** `api.fetch` for a plugin instance whose options name the `listed` origins. Never throws: rejects with a FetchError. */
  async fetch(request: FetchRequest, listed: ReadonlySet<string>): Promise<FetchResponse> {
    if (this.#closed) throw new FetchError('CLOSED', 'this generation is gone: its plugins were disposed');
    if (typeof request !== 'object' || request === null)
      throw new FetchError('INVALID', 'expected a request object: { url }, { backend, path } or { frontend, path }');
    const targets = (['url', 'backend', 'frontend'] as const).filter((k) => (request as unknown as Record<string, unknown>)[k] !== undefined);
    if (targets.length !== 1)
      throw new FetchError('INVALID', `a fetch goes to one of url, backend or frontend; got ${targets.length ? targets.join(' and ') : 'none'}`);
    const deadline = new Deadline(request.timeout ?? defaultTimeout, request.signal);
    try {
      if ('url' in request && request.url !== undefined) return await this.#url(request, listed, deadline);
      if ('backend' in request && request.backend !== undefined) return await this.#backend(request, deadline);
      return await this.#frontend(request as FrontendFetch, deadline);
    } catch (err) {
      throw fetchError(err);
    } finally {
      deadline.clear();
    }
  }

  async #url(r: UrlFetch, listed: ReadonlySet<string>, deadline: Deadline): Promise<FetchResponse> {
    let url: URL;
    try {
      url = new URL(r.url);
    } catch {
      throw new FetchError('INVALID', `not a URL: ${JSON.stringify(r.url)}`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new FetchError('INVALID', `${url.protocol} URLs are not fetched: http: or https: only`);
    if (url.username || url.password) throw new FetchError('INVALID', 'credentials in a URL are not sent: give an authorization header');
    if ((r.allow ?? 'listed') === 'listed' && !listed.has(url.origin) && !this.#servers().has(url.origin)) {
      throw new FetchError(
        'NOT_ALLOWED',
        `${url.origin} is not named by the configuration (this plugin's options or a server's address); pass allow: 'any' for a URL the plugin trusts`,
      );
    }
    const path = `${url.pathname}${url.search}`;
    const options = dispatchOptions(r.method, path, r.headers, r.body);
    options.headers.host ??= url.host;
    return answerOf(await bufferedRequest(this.#urlPool(url, r.ca), options, limitsOf(r, deadline)), undefined);
  }

  /** The pool for a URL's origin (and CA), made on first use. */
  #urlPool(url: URL, ca: string | readonly string[] | undefined): H1Pool {
    const key = ca === undefined ? url.origin : `${url.origin} ${createHash('sha256').update([ca].flat().join('\n')).digest('base64')}`;
    let pool = this.#urlPools.get(key);
    if (pool) return pool;
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    // An IP address is checked against the certificate's IP names, without SNI (as for servers, core/tls/origination.ts).
    const tls: ServerTls | undefined =
      url.protocol === 'https:'
        ? { connect: { rejectUnauthorized: true, servername: isIP(host) ? '' : host, ...(ca === undefined ? {} : { ca: [ca].flat() }) }, name: host }
        : undefined;
    pool = new H1Pool({ host, port }, resolveBackendTimeouts(this.gen.config.defaults.timeouts), tls, undefined);
    this.#urlPools.set(key, pool);
    if (this.#urlPools.size > maxUrlPools) {
      const [oldest, old] = this.#urlPools.entries().next().value!;
      this.#urlPools.delete(oldest);
      void old.close();
    }
    return pool;
  }

  #servers(): Set<string> {
    if (this.#serverOrigins) return this.#serverOrigins;
    const origins = new Set<string>();
    for (const b of this.gen.backends.values()) {
      for (const s of b.servers) for (const scheme of ['http', 'https']) origins.add(new URL(`${scheme}://${formatAddress(s.address)}`).origin);
    }
    // Kept once there are backends: a fetch from a gateway-wide plugin's setup comes before they are built.
    if (this.gen.backends.size) this.#serverOrigins = origins;
    return origins;
  }

  #backend(r: BackendFetch, deadline: Deadline): Promise<FetchResponse> {
    const backend = this.gen.backends.get(r.backend);
    if (!backend) throw new FetchError('UNKNOWN', `no backend "${r.backend}"`);
    if (backend.mode !== 'http') throw new FetchError('INVALID', `backend "${r.backend}" is in ${backend.mode} mode`);
    // Checked before any try; made again for each further one, which sends the body anew.
    const options = dispatchOptions(r.method, r.path, r.headers, r.body);
    const from = r.from;
    // What the balancing algorithm reads (client address, headers, path), as for a proxied request.
    const ctx = new HttpContext(
      from?.frontend ?? '',
      this.gen.id,
      options.method,
      r.path,
      '1.1',
      options.headers,
      from?.client ?? loopback,
      from?.local ?? loopback,
      from?.tls,
      performance.now(),
    );
    return new BackendSubrequest(ctx, this.gen, backend, r, options, deadline).answer;
  }

  async #frontend(r: FrontendFetch, deadline: Deadline): Promise<FetchResponse> {
    const fe = this.gen.frontends.get(r.frontend);
    if (!fe) throw new FetchError('UNKNOWN', `no frontend "${r.frontend}"`);
    if (fe.mode !== 'http') throw new FetchError('INVALID', `frontend "${r.frontend}" is in ${fe.mode} mode`);
    const from = r.from;
    const depth = (from ? (this.#depth.get(from.client) ?? 0) : 0) + 1;
    if (depth > maxDepth) throw new FetchError('LOOP', `subrequests through frontends nested ${depth} deep (${maxDepth} at most)`);
    const { method, path, headers, body } = dispatchOptions(r.method, r.path, r.headers, r.body);
    // As a client's request arrives: one string per field (set-cookie aside), a Host.
    const fields: HttpHeaders = {};
    for (const name in headers) {
      const value = headers[name]!;
      fields[name] = typeof value === 'string' || name === 'set-cookie' ? value : value.join(name === 'cookie' ? '; ' : ', ');
    }
    fields.host ??= from?.header('host') || 'localhost';
    // A peer of its own, so that a subrequest made for this one knows its depth.
    const client: Peer = { address: from?.client.address ?? loopback.address, port: from?.client.port ?? 0 };
    this.#depth.set(client, depth);
    const req: ClientRequest = {
      method,
      url: path,
      httpVersion: '1.1',
      headers: fields,
      hosts: 1,
      client,
      local: from?.local ?? loopback,
      tls: from?.tls,
      body: body ?? null,
      // A body in memory never idles.
      setTimeout: () => undefined,
    };
    const res = new SubrequestResponse(r.discardBody ? 0 : (r.maxBody ?? defaultMaxBody), r.discardBody ? 'drop' : 'fail');
    if (deadline.reason) throw deadline.reason;
    const stopListening = deadline.listen((reason) => res.destroy(reason));
    try {
      handleHttpRequest(fe, this.gen, subrequestEnv, req, res);
      return answerOf(await res.answer, undefined);
    } finally {
      stopListening();
    }
  }

  /** No fetch from now on; URL pools' connections close (those busy once answered). */
  close(): void {
    this.#closed = true;
    for (const pool of this.#urlPools.values()) void pool.close();
    this.#urlPools.clear();
  }
}

/** The `http:`/`https:` origins named in a plugin's options (any string that is such a URL, at any depth): what its `api.fetch` may reach by URL. */
export function originsIn(options: unknown): Set<string> {
  const out = new Set<string>();
  const visit = (value: unknown, depth: number): void => {
    if (typeof value === 'string') {
      if (!/^https?:\/\//i.test(value)) return;
      try {
        out.add(new URL(value).origin);
      } catch {
        // not a URL after all
      }
    } else if (value !== null && typeof value === 'object' && depth < 16) {
      for (const v of Array.isArray(value) ? value : Object.values(value)) visit(v, depth + 1);
    }
  };
  visit(options, 0);
  return out;
}

/**
 * A subrequest to a backend by name, placed, queued and retried as a proxied request is
 * (core/upstream/dispatch.ts), without `pickServer` taps: the backend's algorithm picks.
 * Its answer is read whole into memory. Its end by time or by the caller rejects at once,
 * also while it waits in the queue; a try under way ends with it too (its limits).
 */
class BackendSubrequest extends Dispatch<HttpContext> {
  readonly answer: Promise<FetchResponse>;
  #resolve!: (r: FetchResponse) => void;
  #reject!: (err: unknown) => void;
  readonly #limits: BufferLimits;
  readonly #stopListening: () => void;
  /** The first try's request, checked already; further tries make theirs anew. */
  #next: DispatchOptions | undefined;
  /** Why the last try could not connect, for the error when no server could be. */
  #connectError: unknown = undefined;

  constructor(
    ctx: HttpContext,
    gen: Generation,
    backend: Backend,
    private readonly r: BackendFetch,
    first: DispatchOptions,
    private readonly deadline: Deadline,
  ) {
    super(ctx, gen);
    this.answer = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#limits = limitsOf(r, deadline);
    this.#next = first;
    this.#stopListening = deadline.listen((reason) => this.#reject(reason));
    this.dispatch(backend, undefined);
  }

  protected get over(): boolean {
    return this.deadline.reason !== undefined;
  }

  protected attempt(server: UpstreamServer): void {
    const r = this.r;
    const options = this.#next ?? dispatchOptions(r.method, r.path, r.headers, r.body);
    this.#next = undefined;
    bufferedRequest(server.pool, options, this.#limits).then(
      (answer) => {
        this.release(server);
        this.charge(server, '', answer.status >= 500);
        this.#stopListening();
        this.#resolve(answerOf(answer, server.id));
      },
      (err) => this.#failed(server, err),
    );
  }

  #failed(server: UpstreamServer, err: unknown): void {
    this.release(server);
    const code = (err as { code?: string }).code ?? '';
    const termination = connectFailure(code);
    if (termination) {
      // Never reached: another server may be (redispatch).
      this.charge(server, termination);
      this.#connectError = err;
      return this.redispatch(server, termination, code);
    }
    // Our own ending (timeout, abort, too large a body) says nothing of the server.
    if (!(err instanceof FetchError) && code !== 'BODY_TOO_LARGE') this.charge(server, 'SH');
    this.fail(err);
  }

  protected unplaced(termination: string, error: string, failed?: UpstreamServer): void {
    const name = this.ctx.backend?.name ?? this.r.backend;
    if (failed)
      this.fail(new FetchError('CONNECT', `no server of backend "${name}" could be reached (last: ${failed.id}, ${error})`, { cause: this.#connectError }));
    else if (termination === 'sQ') this.fail(new FetchError('NO_SERVER', `backend "${name}": no server slot within the queue timeout`));
    else this.fail(new FetchError('NO_SERVER', `no server of backend "${name}" is available`));
  }

  protected fail(err: unknown): void {
    this.#stopListening();
    this.#reject(err);
  }
}

/** The request as the pools take it: checked, fields lower-cased without those of the connection, the body with its length. */
function dispatchOptions(
  method = 'GET',
  path: string,
  given: FetchRequest['headers'],
  body: string | Uint8Array | undefined,
): DispatchOptions & { headers: Record<string, string | string[]> } {
  if (typeof path !== 'string' || !path.startsWith('/')) throw new FetchError('INVALID', `a path starts with /: ${JSON.stringify(path)}`);
  const headers: Record<string, string | string[]> = {};
  try {
    checkRequestLine(method, path);
    for (const [name, value] of Object.entries(given ?? {})) {
      const lower = name.toLowerCase();
      if (hopByHop.has(lower) || lower === 'content-length' || value === undefined) continue;
      checkName(lower);
      const values = typeof value === 'string' ? value : [...value];
      for (const v of [values].flat()) checkValue(lower, v);
      headers[lower] = values;
    }
  } catch (err) {
    // A field or target no HTTP message may carry (a CR or LF in it would split the request).
    throw new FetchError('INVALID', (err as Error).message);
  }
  const bytes = body === undefined ? undefined : typeof body === 'string' ? Buffer.from(body) : Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  if (bytes) headers['content-length'] = String(bytes.length);
  // None for an empty body.
  return { method, path, headers, body: bytes?.length ? Readable.from([bytes], { objectMode: false }) : null };
}

function limitsOf(r: FetchRequest, ending: Ending): BufferLimits {
  return r.discardBody ? { maxBody: 0, overflow: 'drop', ending } : { maxBody: r.maxBody ?? defaultMaxBody, overflow: 'fail', ending };
}

function answerOf(a: BufferedAnswer, server: string | undefined): FetchResponse {
  const { status, headers, body } = a;
  return { status, headers, body, server, text: () => body.toString('utf8'), json: <T>() => JSON.parse(body.toString('utf8')) as T };
}

/** Codes of the pools' errors, as a FetchError says them. */
function fetchError(err: unknown): FetchError {
  if (err instanceof FetchError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  const code = (e as { code?: string }).code ?? '';
  const as: FetchErrorCode = connectErrors.has(code)
    ? 'CONNECT'
    : code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
      ? 'TIMEOUT'
      : code === 'BODY_TOO_LARGE'
        ? 'BODY_TOO_LARGE'
        : code === 'ERR_INVALID_HEADER'
          ? 'INVALID'
          : 'BROKEN';
  return new FetchError(as, code && !e.message.includes(code) ? `${code}: ${e.message}` : e.message, { cause: err });
}

/** The exchange's end by time or by the caller; its reason is the FetchError to reject with. */
class Deadline implements Ending {
  reason: FetchError | undefined = undefined;
  #listeners: ((reason: Error) => void)[] = [];
  readonly #timer: NodeJS.Timeout;
  readonly #caller: AbortSignal | undefined;
  readonly #onCaller = () => this.#end(new FetchError('ABORTED', 'the fetch was aborted', { cause: this.#caller?.reason }));

  constructor(timeout: number, caller: AbortSignal | undefined) {
    this.#timer = setTimeout(() => this.#end(new FetchError('TIMEOUT', `no whole answer within ${timeout} ms`)), timeout).unref();
    this.#caller = caller;
    if (caller?.aborted) this.#onCaller();
    else caller?.addEventListener('abort', this.#onCaller, { once: true });
  }

  #end(reason: FetchError): void {
    if (this.reason) return;
    this.reason = reason;
    for (const fn of this.#listeners.splice(0)) fn(reason);
  }

  listen(fn: (reason: Error) => void): () => void {
    if (this.reason) {
      fn(this.reason);
      return () => undefined;
    }
    this.#listeners.push(fn);
    return () => {
      const i = this.#listeners.indexOf(fn);
      if (i !== -1) this.#listeners.splice(i, 1);
    };
  }

  clear(): void {
    clearTimeout(this.#timer);
    this.#caller?.removeEventListener('abort', this.#onCaller);
  }
}

/** The answer to a subrequest through a frontend, kept in memory: what the lifecycle writes to a client, as ClientResponse says it. */
class SubrequestResponse extends EventEmitter implements ClientResponse {
  headersSent = false;
  destroyed = false;
  writableFinished = false;
  readonly writableNeedDrain = false;
  shouldKeepAlive = true;
  readonly answer: Promise<BufferedAnswer>;
  #status = 0;
  #headers: Record<string, string | string[]> = {};
  readonly #chunks: Buffer[] = [];
  #size = 0;
  #dropped = false;
  #resolve!: (a: BufferedAnswer) => void;
  #reject!: (err: unknown) => void;

  constructor(
    private readonly maxBody: number,
    private readonly overflow: 'fail' | 'drop',
  ) {
    super();
    this.answer = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
  }

  /** A subrequest's answer is its final response: interim ones are not kept. */
  writeInformational(): void {}

  writeHead(status: number, headers: Record<string, string | string[] | undefined>): this {
    this.headersSent = true;
    this.#status = status;
    for (const name in headers) if (headers[name] !== undefined) this.#headers[name.toLowerCase()] = headers[name]!;
    return this;
  }

  write(chunk: Uint8Array | string): boolean {
    if (this.destroyed || this.#dropped) return true;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.#size + bytes.length > this.maxBody) {
      if (this.overflow === 'fail') this.destroy(new FetchError('BODY_TOO_LARGE', `response body larger than ${this.maxBody} bytes`));
      else this.#dropped = true;
      this.#chunks.length = 0;
      this.#size = 0;
      return true;
    }
    this.#chunks.push(bytes);
    this.#size += bytes.length;
    return true;
  }

  end(chunk?: Uint8Array | string): this {
    if (chunk !== undefined) this.write(chunk);
    if (this.destroyed || this.writableFinished) return this;
    this.writableFinished = true;
    this.#resolve({ status: this.#status, headers: this.#headers, body: Buffer.concat(this.#chunks, this.#size) });
    // After the lifecycle's own steps of this turn, as a connection's 'close' would come.
    process.nextTick(() => this.emit('close'));
    return this;
  }

  destroy(error?: Error): this {
    if (this.destroyed || this.writableFinished) return this;
    this.destroyed = true;
    this.#reject(error ?? new FetchError('BROKEN', 'the subrequest ended without a whole answer'));
    process.nextTick(() => this.emit('close'));
    return this;
  }
}
