// Keep-alive HTTP/1.1 connections to one server, on raw sockets read by llhttp. It speaks
// the handler contract of undici's Dispatcher (onRequestStart, onResponseStart,
// onResponseData, onResponseEnd, onResponseError, onRequestUpgrade), which is what the
// request lifecycle (core/http/proxy.ts) drives, so pools of other protocols fit the same
// place. One request per connection at a time (no pipelining); connections are reused
// newest first, so idle ones at the bottom time out when traffic drops.
import { performance } from 'node:perf_hooks';
import type { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { RawSocket } from '../net/raw-socket.ts';
import { giveBack, isLent, lendCopy } from '../net/lent-buffers.ts';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { HttpHeaders } from '../../sdk/context.ts';
import { HTTPParser, createParser, headersOf, type ParseError, type Parser } from '../http/h1/parser.ts';
import type { BindAddress } from '../../sdk/units.ts';
import { checkName, checkRequestLine, checkValue, fieldLines, framedLength } from '../http/fields.ts';
import type { ServerTls } from '../tls/origination.ts';

export interface PoolTimeouts {
  connect: number;
  /** Until the response head is complete. */
  server: number;
  /** Idle time between body bytes. */
  server_body: number;
  /** How long an idle connection is kept. */
  server_keepalive: number;
}

export interface DispatchOptions {
  method: string;
  path: string;
  headers: Record<string, string | string[]>;
  body?: Readable | null;
  /** Ask the server to switch to this protocol (`Connection: upgrade`). */
  upgrade?: string;
}

/** What proxy.ts dispatches requests to. */
export interface UpstreamPool {
  dispatch(options: DispatchOptions, handler: Dispatcher.DispatchHandler): void;
  /** Idle connections closed now, busy ones after their answer. */
  close(): Promise<void>;
  destroy(): void;
}

/**
 * A handler that may be given the body as the reads bring it: when `rawBody` is true once
 * its onResponseStart has returned, a body of known length (Content-Length) is handed on
 * without llhttp, whose per-chunk copy and callback are most of a large answer's cost. For
 * a handler that only passes the bytes on (nothing looks at them); off for everyone else.
 */
export interface RawBodyHandler {
  readonly rawBody?: boolean;
  /** A raw body's chunk may be lent: `written` gives it back once its bytes are no longer needed (never called: it is collected). */
  onResponseData?(controller: Dispatcher.DispatchController, chunk: Buffer, written?: () => void): void;
}

/** Methods a request may be sent again with when a reused connection turns out closed (RFC 9110 9.2.2). */
const idempotent = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const error = (message: string, code: string): Error => Object.assign(new Error(message), { code });

export class H1Pool implements UpstreamPool {
  readonly #idle: Connection[] = [];
  readonly #all = new Set<Connection>();
  #closing = false;
  /** One timer for every connection's timeouts (a socket timeout set per phase costs a timer per request). */
  #sweep: NodeJS.Timeout | undefined;
  /** `host: ...` sent when the request has none. */
  readonly hostHeader: string;

  constructor(
    readonly address: BindAddress,
    readonly timeouts: PoolTimeouts,
    readonly tls: ServerTls | undefined,
    /** A new connection is up after `ms` (TLS included). */
    readonly onConnect: ((ms: number) => void) | undefined,
  ) {
    const host = address.host.includes(':') ? `[${address.host}]` : address.host;
    this.hostHeader = `${host}:${address.port}`;
  }

  dispatch(options: DispatchOptions, handler: Dispatcher.DispatchHandler): void {
    const exchange = new Exchange(this, options, handler);
    try {
      exchange.requestHead = requestHead(options, this.hostHeader);
    } catch (err) {
      // A field or path no server may be sent (set by a plugin: the client's own were parsed strictly).
      return exchange.failed(err as Error, true, true);
    }
    let connection: Connection | undefined;
    while ((connection = this.#idle.pop()) && !connection.reusable) connection.destroy();
    exchange.send(connection ?? this.#open(), connection !== undefined);
  }

  /** A fresh connection (also for a retry after a reused one failed). */
  open(): Connection {
    return this.#open();
  }

  #open(): Connection {
    const connection = new Connection(this);
    this.#all.add(connection);
    if (this.#sweep === undefined) {
      const t = this.timeouts;
      const period = Math.max(10, Math.min(1000, t.connect / 4, t.server / 4, t.server_body / 4, t.server_keepalive / 4));
      this.#sweep = setInterval(this.#check, period).unref();
    }
    return connection;
  }

  /** Connections past their phase's timeout end (a timeout fires up to a quarter of it late). */
  #check = (): void => {
    const now = performance.now();
    for (const c of this.#all) c.check(now);
    if (this.#all.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  };

  released(connection: Connection): void {
    if (this.#closing) connection.destroy();
    else this.#idle.push(connection);
  }

  forget(connection: Connection): void {
    this.#all.delete(connection);
    const i = this.#idle.indexOf(connection);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  async close(): Promise<void> {
    this.#closing = true;
    for (const c of this.#idle.splice(0)) c.destroy();
  }

  destroy(): void {
    this.#closing = true;
    for (const c of [...this.#all]) c.destroy();
  }
}

/** One socket to the server and its parser. */
class Connection {
  readonly socket: Socket | RawSocket;
  readonly #parser: Parser;
  connected = false;
  /** The exchange using this connection; undefined while idle. */
  exchange: Exchange | undefined = undefined;
  /** The server may keep it open (its last answer allowed keep-alive, and any `Keep-Alive: timeout` has not passed). */
  #keepAlive = true;
  /** The server's `Keep-Alive: timeout` less a second, in ms; 0 without one. */
  #hint = 0;
  #idleUntil = Infinity;
  #trailers: string[] | undefined = undefined;
  #early: string[] | undefined = undefined;
  /** The idle time allowed in the phase the connection is in (0: none), and when it was last active. */
  #timeout = 0;
  #activeAt = 0;
  /** Body bytes still to come past the parser (a raw body, see #onHeadersComplete); 0 when the parser reads. */
  #left = 0;

  constructor(readonly pool: H1Pool) {
    const { address, tls: secure, timeouts } = pool;
    const started = performance.now();
    // Cleartext to an IP address: a RawSocket (core/net/raw-socket.ts); a name to look up, or TLS: net.Socket.
    const socket = secure
      ? tls.connect({ host: address.host, port: address.port, ...secure.connect })
      : net.isIP(address.host)
        ? RawSocket.connect(address.host, address.port)
        : net.connect({ host: address.host, port: address.port, noDelay: true });
    if (secure) (socket as tls.TLSSocket).setNoDelay(true);
    this.socket = socket;
    const events: EventEmitter = socket;
    this.#arm(timeouts.connect);
    events.once(secure ? 'secureConnect' : 'connect', () => {
      this.connected = true;
      pool.onConnect?.(performance.now() - started);
      this.#arm(this.exchange ? timeouts.server : timeouts.server_keepalive);
    });
    this.#parser = createParser(HTTPParser.RESPONSE, 0, {
      onHeaders: this.#onHeaders,
      onHeadersComplete: this.#onHeadersComplete,
      onBody: this.#onBody,
      onMessageComplete: this.#onMessageComplete,
    });
    events.on('data', this.#onData);
    events.on('end', this.#onEnd);
    events.on('error', this.#onError);
    events.on('close', this.#onClose);
  }

  get reusable(): boolean {
    return this.#keepAlive && !this.socket.destroyed && (this.#idleUntil === Infinity || performance.now() < this.#idleUntil);
  }

  destroy(): void {
    this.socket.destroy();
  }

  #onData = (chunk: Buffer): void => {
    const exchange = this.exchange;
    if (!exchange) return void this.socket.destroy(); // bytes nobody asked for
    exchange.received = true;
    this.#activeAt = performance.now();
    if (this.#left > 0) return this.#rawBody(exchange, chunk, 0);
    let parsed: number | ParseError;
    try {
      parsed = this.#parser.execute(chunk);
    } catch (err) {
      // A handler's own failure while it was given the answer: this exchange ends, the process does not.
      return this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (typeof parsed !== 'number') return this.#fail(error(`invalid response from the server: ${parsed.reason ?? parsed.code}`, 'UPSTREAM_BAD_RESPONSE'));
    if (exchange.switched) {
      // 101: what follows the head is the new protocol's; the socket is the tunnel's from here.
      this.#detach();
      const rest = Buffer.from(chunk.subarray(parsed)); // a copy: a RawSocket's chunk is reused by its next read
      const socket = this.socket instanceof RawSocket ? this.socket.toSocket() : this.socket;
      if (rest.length) socket.unshift(rest);
      exchange.upgraded(socket);
    } else if (this.#left > 0 && parsed < chunk.length && this.exchange === exchange) this.#rawBody(exchange, chunk, parsed);
  };

  /** Bytes of a raw body from `chunk` at `from`: copied (the read buffer is reused by the next read) and handed on; the answer ends with its last. */
  #rawBody(exchange: Exchange, chunk: Buffer, from: number): void {
    const n = Math.min(chunk.length - from, this.#left);
    this.#left -= n;
    try {
      // A net.Socket's chunks are its reader's own; a RawSocket's are copied into a lent buffer.
      if (!(this.socket instanceof RawSocket)) exchange.data(chunk.subarray(from, from + n));
      else {
        const lentChunk = lendCopy(chunk, from, from + n);
        exchange.data(lentChunk, () => giveBack(lentChunk));
      }
    } catch (err) {
      return this.#fail(err instanceof Error ? err : new Error(String(err)));
    }
    if (this.#left > 0 || this.exchange !== exchange) return;
    // Bytes after the body in the same read: nobody asked for them, so the connection is not reused.
    if (from + n < chunk.length) this.#keepAlive = false;
    // llhttp took the head as an upgrade's: ready again for the next answer.
    this.#parser.initialize(HTTPParser.RESPONSE, {}, 0, 0);
    this.#onMessageComplete();
  }

  #onHeaders = (raw: string[]): void => {
    if (this.exchange?.started) (this.#trailers ??= []).push(...raw);
    else (this.#early ??= []).push(...raw);
  };

  #onHeadersComplete = (
    _major: number,
    _minor: number,
    raw: string[] | undefined,
    _method: unknown,
    _url: unknown,
    status: number,
    message: string,
    upgrade: boolean,
    keepAlive: boolean,
  ): number => {
    const exchange = this.exchange;
    if (!exchange) return 0;
    if (this.#early) {
      raw = raw ? [...this.#early, ...raw] : this.#early;
      this.#early = undefined;
    }
    if (status < 200 && status !== 101) {
      // 100 Continue, 103 Early Hints: passed on as they come; the final response follows on the same exchange.
      exchange.informational(status, message, headersOf(raw ?? []));
      return 0;
    }
    const headers = headersOf(raw ?? []);
    this.#keepAlive = keepAlive;
    const hint = headers['keep-alive'];
    if (hint !== undefined) {
      // `Keep-Alive: timeout=N`: the server closes after N s idle; stop reusing a second before (as undici does).
      const m = /timeout=(\d+)/i.exec(String(hint));
      if (m) this.#hint = Math.max(0, Number(m[1]) * 1000 - 1000);
    }
    if (status === 101 && upgrade) {
      exchange.switched = true;
      exchange.upgradeHeaders = headers;
      return 0;
    }
    // Any other answer to an upgrade request: the connection was asked to change, so it is not reused.
    if (exchange.options.upgrade) this.#keepAlive = false;
    this.#arm(this.pool.timeouts.server_body, this.#activeAt); // the read being parsed started the body phase
    // The framing as the server sent it: the handler may change (or remove) these fields in what it passes on.
    const length = framedLength(headers);
    exchange.head(status, message, headers);
    if (exchange.options.method === 'HEAD') return 1;
    if (length !== undefined && this.exchange === exchange && exchange.rawBody && status !== 204 && status !== 304 && !upgrade && !exchange.options.upgrade) {
      if (length > 0) {
        // 2: llhttp stops after the head as after an upgrade's (its message ends there), and #onData reads the body.
        this.#left = length;
        return 2;
      }
    }
    return 0;
  };

  #onBody = (chunk: Buffer): void => {
    this.exchange?.data(chunk);
  };

  #onMessageComplete = (): void => {
    const exchange = this.exchange;
    if (!exchange || !exchange.started || this.#left > 0) return; // a 1xx, or the head of a raw body
    const trailers = this.#trailers ? headersOf(this.#trailers) : {};
    this.#trailers = undefined;
    if (this.#hint > 0) this.#idleUntil = performance.now() + this.#hint;
    this.exchange = undefined;
    // Reused only once the request went out whole; an early answer (413...) leaves its rest unsendable.
    if (!exchange.sent) this.#keepAlive = false;
    exchange.end(trailers);
    if (this.#keepAlive && !this.socket.destroyed && !exchange.switched) {
      this.#arm(this.pool.timeouts.server_keepalive, this.#activeAt);
      this.pool.released(this);
    } else this.socket.destroy();
  };

  /** Starts an exchange on this connection. */
  use(exchange: Exchange): void {
    this.exchange = exchange;
    // The last exchange may have paused it (a client slower than the server) and finished meanwhile.
    if (this.socket.isPaused()) this.socket.resume();
    this.#idleUntil = Infinity;
    if (this.connected) this.#arm(this.pool.timeouts.server);
  }

  /** A phase begins (at `now`: the read being parsed, when there is one) that may stay idle `ms` at most (the pool's sweep checks). */
  #arm(ms: number, now = performance.now()): void {
    this.#timeout = ms;
    this.#activeAt = now;
  }

  /** Bytes went out: the phase's idle time starts again. */
  touch(): void {
    this.#activeAt = performance.now();
  }

  check(now: number): void {
    if (this.#timeout > 0 && now - this.#activeAt >= this.#timeout) this.#onTimeout();
  }

  #onEnd = (): void => {
    // A response delimited by the end of the connection ends here.
    if (this.exchange?.started) {
      if (this.#left > 0 || this.#parser.finish()) return this.#fail(error('the server closed the connection during its response', 'UND_ERR_SOCKET'));
    }
    this.socket.destroy();
  };

  #onTimeout = (): void => {
    const exchange = this.exchange;
    if (!exchange) return void this.socket.destroy();
    if (!this.connected) return this.#fail(error('connect timeout', 'UND_ERR_CONNECT_TIMEOUT'));
    this.#fail(
      exchange.started
        ? error('the server sent no body bytes for too long', 'UND_ERR_BODY_TIMEOUT')
        : error('the server did not answer in time', 'UND_ERR_HEADERS_TIMEOUT'),
    );
  };

  #onError = (err: NodeJS.ErrnoException): void => {
    this.#fail(err);
  };

  #onClose = (): void => {
    this.#detach();
    this.pool.forget(this);
    if (this.exchange) this.#fail(error('the server closed the connection', 'UND_ERR_SOCKET'));
  };

  #fail(err: Error): void {
    const exchange = this.exchange;
    this.exchange = undefined;
    this.#keepAlive = false;
    this.#left = 0;
    this.socket.destroy();
    exchange?.failed(err, this.connected);
  }

  #detach(): void {
    const socket = this.socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#timeout = 0;
    this.#parser.close?.();
  }
}

/** One request, its tries (a reused connection found closed is tried once more on a new one) and its handler. */
class Exchange implements Dispatcher.DispatchController {
  started = false;
  /** The request went out whole (head and body). */
  sent = false;
  /** Some bytes of an answer arrived. */
  received = false;
  switched = false;
  #done = false;
  #connection: Connection | undefined;
  #reused = false;
  #paused = false;

  constructor(
    private readonly pool: H1Pool,
    readonly options: DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
  ) {}

  // DispatchController
  get aborted(): boolean {
    return this.#done;
  }

  get paused(): boolean {
    return this.#paused;
  }

  get reason(): Error | null {
    return null;
  }

  /** The handler takes the body as raw reads (see RawBodyHandler). */
  get rawBody(): boolean {
    return !this.#done && (this.handler as RawBodyHandler).rawBody === true;
  }

  pause(): void {
    this.#paused = true;
    if (this.#connection?.exchange === this) this.#connection.socket.pause();
  }

  resume(): void {
    this.#paused = false;
    if (this.#connection?.exchange === this) this.#connection.socket.resume();
  }

  abort(reason: Error): void {
    if (this.#done) return;
    this.#connection?.destroy();
    this.failed(reason, true, true);
  }

  send(connection: Connection, reused: boolean): void {
    this.#connection = connection;
    this.#reused = reused;
    connection.use(this);
    if (!this.#retrying) this.handler.onRequestStart?.(this, {});
    if (this.#done) return;
    const body = this.options.body;
    // Failed before it could be sent (the client's fault, or its reader's): nothing of the request goes out.
    if (body?.destroyed) return this.abort(body.errored ?? error('the request body was closed before it was sent', 'ERR_STREAM_DESTROYED'));
    const chunked = sentChunked(this.options);
    const socket = connection.socket;
    socket.write(this.requestHead, 'latin1');
    if (!body) {
      this.sent = true;
      return;
    }
    const onDrain = () => body.resume();
    socket.on('drain', onDrain);
    // Every listener this body put on a connection that outlives it (keep-alive) goes with it.
    const stop = () => {
      socket.off('drain', onDrain);
      socket.off('close', stop);
      body.off('data', onData);
      body.off('end', onEnd);
      body.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      if (socket.destroyed) return;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`, 'latin1');
        socket.write(chunk);
        ok = socket.write('\r\n', 'latin1');
        socket.uncork();
      } else if (isLent(chunk) && body.listenerCount('data') === 1) {
        // A request body's bytes lent past llhttp (core/http/h1/server.ts), read by this writer alone: given back once written.
        ok = socket.write(chunk, (err?: Error | null) => err || giveBack(chunk));
      } else ok = socket.write(chunk);
      connection.touch();
      if (!ok) body.pause();
    };
    const onEnd = () => {
      stop();
      if (chunked && !socket.destroyed) socket.write('0\r\n\r\n', 'latin1');
      this.sent = true;
    };
    const onError = (err: Error) => {
      stop();
      this.abort(err);
    };
    body.on('data', onData);
    body.once('end', onEnd);
    body.once('error', onError);
    socket.once('close', stop);
  }

  #retrying = false;
  /** The request's head as it is written (each try the same). */
  requestHead = '';

  /** An interim (1xx) response: told to the handler, the exchange not started. */
  informational(status: number, message: string, headers: HttpHeaders): void {
    if (!this.#done && !this.started) this.handler.onResponseStart?.(this, status, headers as Record<string, string | string[]>, message);
  }

  head(status: number, message: string, headers: HttpHeaders): void {
    this.started = true;
    if (this.#done) return;
    this.handler.onResponseStart?.(this, status, headers as Record<string, string | string[]>, message);
  }

  data(chunk: Buffer, written?: () => void): void {
    if (this.#done) return;
    if (written) (this.handler as RawBodyHandler).onResponseData?.(this, chunk, written);
    else this.handler.onResponseData?.(this, chunk);
  }

  end(trailers: HttpHeaders): void {
    if (this.#done) return;
    this.#done = true;
    this.handler.onResponseEnd?.(this, trailers as Record<string, string | string[]>);
  }

  /** The server's 101 head. */
  upgradeHeaders: HttpHeaders | undefined;

  upgraded(socket: Socket): void {
    if (this.#done) return void socket.destroy();
    this.#done = true;
    this.handler.onRequestUpgrade?.(this, 101, (this.upgradeHeaders ?? {}) as Record<string, string | string[]>, socket);
  }

  failed(err: Error, connected: boolean, byUs = false): void {
    if (this.#done) return;
    // A kept-alive connection the server had closed meanwhile: the request never reached it. Once more, on a new one.
    if (!byUs && this.#reused && connected && !this.received && !this.options.body && idempotent.has(this.options.method)) {
      this.#retrying = true;
      this.#reused = false;
      return this.send(this.pool.open(), false);
    }
    this.#done = true;
    // Not connected at all: say so as a connect error, which proxy.ts may try on another server.
    if (!connected && !(err as { code?: string }).code) Object.assign(err, { code: 'ECONNREFUSED' });
    this.handler.onResponseError?.(this, err);
  }
}

/** A body without a length goes chunked. */
const sentChunked = (options: DispatchOptions): boolean => options.body != null && options.headers['content-length'] === undefined;

/** The head of `options` as written to the server: checked, since plugins may have set any part of it. */
function requestHead(options: DispatchOptions, hostHeader: string): string {
  const { method, path, headers, upgrade } = options;
  checkRequestLine(method, path);
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let host = false;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    checkName(name);
    if (name === 'host') host = true;
    head += fieldLines(name, value);
  }
  if (upgrade) checkValue('upgrade', upgrade);
  if (!host) head += `host: ${hostHeader}\r\n`;
  if (upgrade) head += `connection: upgrade\r\nupgrade: ${upgrade}\r\n`;
  if (sentChunked(options)) head += 'transfer-encoding: chunked\r\n';
  return head + '\r\n';
}
