// HTTP/2 to one server (a backend with `protocol: h2` or `grpc`): a few long-lived sessions,
// cleartext with prior knowledge (h2c) or TLS with ALPN h2, and every request a new stream,
// so balancing happens per request (per gRPC call), never per connection. It speaks the
// undici dispatcher contract core/http/proxy.ts already drives for HTTP/1.1.
import { performance } from 'node:perf_hooks';
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { BindAddress } from '../../sdk/units.ts';
import type { ServerTls } from '../tls/origination.ts';
import { hopByHop } from '../../sdk/http.ts';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM } = http2.constants;

export interface H2PoolOptions {
  readonly address: BindAddress;
  readonly tls: ServerTls | undefined;
  readonly timeouts: { connect: number; server: number; server_body: number; server_keepalive: number };
  /** A new session is up after `ms` (stats' connect latency). */
  readonly onConnect?: (ms: number) => void;
}

/** What proxy.ts hands to `dispatch`: undici's options, of which these are read. */
type DispatchOptions = Pick<Dispatcher.DispatchOptions, 'method' | 'path' | 'headers' | 'body' | 'upgrade'>;

/** An error with the code proxy.ts reads to tell a failed connection (retry elsewhere) from a broken exchange. */
const coded = (message: string, code: string): Error => Object.assign(new Error(message), { code });

interface PooledSession {
  readonly session: ClientHttp2Session;
  /** Resolves once the connection (and TLS) is up; rejects when it cannot be made. */
  readonly ready: Promise<void>;
  streams: number;
}

export class H2Pool {
  readonly #sessions: PooledSession[] = [];
  readonly #authority: string;
  #closed = false;

  constructor(private readonly options: H2PoolOptions) {
    const { host, port } = options.address;
    this.#authority = `${options.tls ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  }

  /** A session with room for one more stream: the least busy open one, or a new one when every one is full. */
  #session(): PooledSession {
    let best: PooledSession | undefined;
    for (const s of this.#sessions) {
      const limit = s.session.remoteSettings?.maxConcurrentStreams ?? 100;
      if (s.session.closed || s.session.destroyed || s.streams >= limit) continue;
      if (!best || s.streams < best.streams) best = s;
    }
    return best ?? this.#connect();
  }

  #connect(): PooledSession {
    const { address, tls: t, timeouts } = this.options;
    const start = performance.now();
    let failure: Error | undefined;
    const session = http2.connect(this.#authority, {
      createConnection: () =>
        t
          ? tls.connect({ host: address.host, port: address.port, ...t.connect, servername: t.connect.servername || undefined, ALPNProtocols: ['h2'] })
          : net.connect({ host: address.host, port: address.port, noDelay: true }),
      settings: { enablePush: false },
    });
    const pooled: PooledSession = {
      session,
      streams: 0,
      ready: new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => session.destroy(coded(`connect timeout after ${timeouts.connect} ms`, 'UND_ERR_CONNECT_TIMEOUT')), timeouts.connect);
        session.once('connect', () => {
          clearTimeout(timer);
          this.options.onConnect?.(performance.now() - start);
          resolve();
        });
        session.once('close', () => {
          clearTimeout(timer);
          reject(failure ?? coded('connection closed before it was up', 'ECONNREFUSED'));
        });
      }),
    };
    pooled.ready.catch(() => undefined);
    session.on('error', (err: Error) => (failure = err));
    // The server says it is going away: no new streams there; those open finish.
    session.once('goaway', () => this.#forget(pooled));
    session.once('close', () => this.#forget(pooled));
    // Idle sessions close after the server keep-alive time (no stream open that long).
    session.setTimeout(timeouts.server_keepalive, () => {
      if (pooled.streams === 0) session.close();
    });
    session.unref();
    this.#sessions.push(pooled);
    return pooled;
  }

  #forget(pooled: PooledSession): void {
    const i = this.#sessions.indexOf(pooled);
    if (i !== -1) this.#sessions.splice(i, 1);
  }

  dispatch(opts: DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const call = new H2Call(opts, handler, this.options.timeouts, this.options.tls !== undefined);
    if (this.#closed) {
      call.fail(coded('the pool is closed', 'ECONNREFUSED'));
      return false;
    }
    if (opts.upgrade) {
      call.fail(coded('upgrades are not carried over HTTP/2 to a server', 'UND_ERR_NOT_SUPPORTED'));
      return false;
    }
    const pooled = this.#session();
    pooled.streams++;
    call.onDone = () => {
      pooled.streams--;
    };
    if (!call.start()) return true;
    pooled.ready.then(
      () => call.send(pooled.session),
      (err: Error) => call.fail(connectError(err)),
    );
    return true;
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#sessions.map((s) => new Promise<void>((resolve) => (s.session.closed ? resolve() : s.session.close(() => resolve())))));
  }

  async destroy(): Promise<void> {
    this.#closed = true;
    for (const s of [...this.#sessions]) s.session.destroy();
  }
}

/** A failure before the server saw anything keeps (or gets) a connect code: proxy.ts then tries another server. */
function connectError(err: Error): Error {
  const code = (err as { code?: string }).code;
  if (code && /^(E[A-Z]+|UND_ERR_CONNECT_TIMEOUT)$/.test(code)) return err;
  return Object.assign(err, { code: 'ECONNREFUSED' });
}

/** One request as one stream, driving the handler: head, body chunks under flow control, trailers. */
class H2Call implements Dispatcher.DispatchController {
  #stream: ClientHttp2Stream | undefined;
  #done = false;
  #paused = false;
  #aborted = false;
  #reason: Error | null = null;
  #headTimer: NodeJS.Timeout | undefined;
  onDone: () => void = () => undefined;

  constructor(
    private readonly opts: DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
    private readonly timeouts: H2PoolOptions['timeouts'],
    private readonly secure: boolean,
  ) {}

  get aborted(): boolean {
    return this.#aborted;
  }
  get paused(): boolean {
    return this.#paused;
  }
  get reason(): Error | null {
    return this.#reason;
  }

  pause(): void {
    this.#paused = true;
    this.#stream?.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#stream?.resume();
  }

  abort(reason: Error): void {
    if (this.#done) return;
    this.#aborted = true;
    this.#reason = reason;
    if (this.#stream && !this.#stream.destroyed) this.#stream.close(NGHTTP2_CANCEL);
    this.fail(reason);
  }

  /** False when the handler aborted at once. */
  start(): boolean {
    this.handler.onRequestStart?.(this, {});
    return !this.#done;
  }

  send(session: ClientHttp2Session): void {
    if (this.#done) return;
    const opts = this.opts;
    const body = (opts.body ?? null) as Readable | null;
    const head: OutgoingHttpHeaders = { ':method': opts.method, ':path': opts.path, ':scheme': this.secure ? 'https' : 'http' };
    const headers = (opts.headers ?? {}) as Record<string, string | string[] | undefined>;
    for (const name in headers) if (headers[name] !== undefined && !hopByHop.has(name) && name !== 'host') head[name] = headers[name];
    if (headers.host !== undefined) head[':authority'] = headers.host;
    const type = headers['content-type'];
    // gRPC servers expect it; it is the one TE value HTTP/2 allows.
    if (typeof type === 'string' && type.startsWith('application/grpc')) head.te = 'trailers';
    let stream: ClientHttp2Stream;
    try {
      stream = session.request(head, { endStream: body === null });
    } catch (err) {
      return this.fail(connectError(err as Error));
    }
    this.#stream = stream;
    if (this.#paused) stream.pause();
    this.#headTimer = setTimeout(
      () => this.#broken(coded(`no response head within ${this.timeouts.server} ms`, 'UND_ERR_HEADERS_TIMEOUT')),
      this.timeouts.server,
    );
    let trailers: Record<string, string | string[]> = {};
    // Interim responses (103 Early Hints, 100 Continue) before the final head: passed on as they come.
    stream.on('headers', (raw: IncomingHttpHeaders) => {
      const { status, headers: fields } = split(raw);
      if (!this.#done && status >= 100 && status < 200) this.handler.onResponseStart?.(this, status, fields, '');
    });
    stream.on('response', (raw: IncomingHttpHeaders) => {
      clearTimeout(this.#headTimer);
      const { status, headers: fields } = split(raw);
      if (this.#done) return;
      this.handler.onResponseStart?.(this, status, fields, '');
      stream.setTimeout(this.timeouts.server_body, () => this.#broken(coded(`response body idle for ${this.timeouts.server_body} ms`, 'UND_ERR_BODY_TIMEOUT')));
    });
    stream.on('data', (chunk: Buffer) => {
      if (!this.#done) this.handler.onResponseData?.(this, chunk);
    });
    stream.on('trailers', (raw: IncomingHttpHeaders) => (trailers = split(raw).headers));
    stream.once('end', () => {
      if (this.#done) return;
      this.#finish();
      this.handler.onResponseEnd?.(this, trailers);
    });
    stream.once('error', (err: Error) => this.#broken(err));
    stream.once('close', () => {
      if (this.#done) return;
      const code = stream.rstCode;
      // REFUSED_STREAM: the server did not process it (RFC 9113 8.7), so another may.
      if (code === NGHTTP2_REFUSED_STREAM) this.fail(coded('the server refused the stream', 'ECONNREFUSED'));
      else this.#broken(coded(`the server reset the stream (code ${code})`, 'UND_ERR_SOCKET'));
    });
    if (body?.destroyed) {
      // Failed before it could be sent (the client's fault, or its reader's): the stream is cancelled.
      stream.close(NGHTTP2_CANCEL);
      return this.fail(body.errored ?? coded('the request body was closed before it was sent', 'ERR_STREAM_DESTROYED'));
    }
    if (body) {
      body.on('error', (err) => {
        if (!stream.destroyed) stream.close(NGHTTP2_CANCEL);
        this.fail(err);
      });
      body.pipe(stream);
    }
  }

  #broken(err: Error): void {
    if (this.#done) return;
    if (this.#stream && !this.#stream.destroyed) this.#stream.close(NGHTTP2_CANCEL);
    this.fail(err);
  }

  #finish(): void {
    this.#done = true;
    clearTimeout(this.#headTimer);
    this.#stream?.setTimeout(0);
    this.onDone();
  }

  fail(err: Error): void {
    if (this.#done) return;
    this.#finish();
    this.handler.onResponseError?.(this, err);
  }
}

/** `:status` and the other fields of a response head or trailers, pseudo-headers left out. */
function split(raw: IncomingHttpHeaders): { status: number; headers: Record<string, string | string[]> } {
  const headers: Record<string, string | string[]> = {};
  for (const name in raw) {
    if (name.charCodeAt(0) === 58) continue;
    const v = raw[name];
    if (v !== undefined) headers[name] = v;
  }
  return { status: Number(raw[':status'] ?? 0), headers };
}
