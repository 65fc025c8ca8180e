// The HTTP/1.x server side on raw sockets: llhttp (core/http/h1/parser.ts) reads each
// connection, the request lifecycle (core/http/proxy.ts) answers through H1Response. What
// node:http did for us is here, and only that: keep-alive, pipelined requests answered in
// order, request bodies with back-pressure, 100-continue, upgrades handed over, a timeout
// for heads (slow clients) and for idle connections, and strict refusals with 400/408/431.
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import { RawSocket, type RawSocketOwner } from '../../net/raw-socket.ts';
import { Readable } from 'node:stream';
import type { HttpHeaders, TlsInfo } from '../../../sdk/context.ts';
import type { ClientRequest, Peer } from '../exchange.ts';
import { errorBody, statusText } from '../errors.ts';
import { handleHttpRequest, type HttpEnv } from '../proxy.ts';
import { handleUpgrade } from '../upgrade.ts';
import { H1Response, type ResponseOwner } from './response.ts';
import { headersOf, HTTPParser, methods, releaseRequestParser, takeRequestParser, type ParseError, type Parser } from './parser.ts';
import { lendCopy } from '../../net/lent-buffers.ts';
import type { FrontendRuntime, Generation } from '../../generation.ts';
import { tlsInfoOf } from '../../tls/facts.ts';
import { ClientFault } from '../../termination.ts';
import { framedLength, validHost } from '../fields.ts';

/** What a connection needs from its listener (core/gateway.ts). */
export interface H1Host extends HttpEnv {
  readonly fe: FrontendRuntime;
  readonly gen: Generation;
  /** The connection became a tunnel (an upgrade): it lives until hard_stop_after in a drain. */
  upgraded(socket: Socket): void;
}

/** Serves HTTP/1.x on the connections a listener gives it. */
export class H1Engine {
  readonly #connections = new Set<H1Connection>();
  #sweep: NodeJS.Timeout | undefined;

  constructor(private readonly host: H1Host) {}

  serve(socket: Socket | RawSocket): void {
    this.#connections.add(new H1Connection(this.host, socket, this.#connections));
    this.#sweep ??= setInterval(() => this.#check(), this.#period()).unref();
  }

  /** Settings of a kept listener may change with a reload: the sweep's period follows. */
  applyLimits(): void {
    if (this.#sweep) {
      clearInterval(this.#sweep);
      this.#sweep = setInterval(() => this.#check(), this.#period()).unref();
    }
  }

  /** A drain: connections idle (between requests) for `ms` are closed; busy ones close after their answer. */
  endIdle(ms: number): void {
    const now = performance.now();
    for (const c of this.#connections) if (c.idle && now - c.idleAt >= ms) c.socket.end();
  }

  kill(): void {
    clearInterval(this.#sweep);
    this.#sweep = undefined;
    for (const c of this.#connections) c.socket.destroy();
  }

  #period(): number {
    const t = this.host.fe.timeouts;
    return Math.max(10, Math.min(1000, t.client_headers / 4, t.keepalive / 4));
  }

  /** Heads that take too long (slowloris) get a 408; connections idle past `keepalive` are closed. */
  #check(): void {
    const now = performance.now();
    const t = this.host.fe.timeouts;
    for (const c of this.#connections) {
      if (c.headStart > 0 && now - c.headStart >= t.client_headers) c.refuse(408, 'client head timeout');
      else if (c.idle && now - c.idleAt >= t.keepalive) c.socket.destroy();
    }
    if (this.#connections.size === 0) {
      clearInterval(this.#sweep);
      this.#sweep = undefined;
    }
  }
}

/**
 * One connection. A RawSocket calls its methods directly (RawSocketOwner), and so does
 * llhttp (the parser's callbacks find the connection on the parser): an idle connection
 * is this object, its socket and their handle, with no closures of its own.
 */
class H1Connection implements ResponseOwner, RawSocketOwner {
  /**
   * performance.now() when the head being read began arriving, in whole ms (rounded up); 0
   * when none is. Whole numbers stay in the object: a fraction is a 16-byte number beside it.
   */
  headStart = 0;
  /** When the last answer finished (or the connection opened), as headStart. */
  idleAt = Math.ceil(performance.now());
  /** Held while a request is arriving or being answered; between requests it goes back to the spares (see takeRequestParser). */
  #parser: Parser | undefined = undefined;
  /** The exchange being answered; then those pipelined behind it, in order. */
  readonly #exchanges: Exchange[] = [];
  /** The message llhttp is reading (its body may still be arriving). */
  #reading: Exchange | undefined = undefined;
  /** Field lines llhttp flushed before the head was complete (very many headers). */
  #early: string[] | undefined = undefined;
  #earlyUrl = '';
  /** No further request will be read: the connection closes once the answers in hand are sent. */
  #closing = false;
  #client: Peer | undefined;
  #tls: TlsInfo | undefined | null = null;
  #onTimeout: (() => void) | undefined = undefined;
  /** An upgrade made the connection a byte pipe: never idle, ended by its tunnel or hard_stop_after. */
  #tunnel = false;
  /** How much of `HEAD ` the head being read begins with (5: all, -1: it does not): a refusal of a HEAD request goes without a body. */
  #headMatch = 0;
  /** Nothing more is read (a refusal, the last answer, an upgrade's head): bytes still arriving are dropped. */
  #deaf = false;
  /** An upgrade's head was read: the tunnel (core/http/upgrade.ts) handles the connection's end and idle time. */
  #piped = false;
  /** Bytes of the request body being read still to come past llhttp (a body with a Content-Length, see onHeadersComplete); 0 when llhttp reads. */
  #left = 0;

  constructor(
    private readonly host: H1Host,
    readonly socket: Socket | RawSocket,
    /** The engine's connections: this one leaves them when it closes. */
    private readonly connections: Set<H1Connection>,
  ) {
    // A RawSocket tells its owner of an error as the close that follows; a net.Socket needs a listener.
    if (socket instanceof RawSocket) socket.attach(this);
    else {
      listen(socket, this);
      socket.on('error', noop);
    }
  }

  /** Between requests: no answer in hand, no head arriving, not a tunnel (an upgrade's byte pipe). */
  get idle(): boolean {
    return !this.#tunnel && this.#exchanges.length === 0 && this.headStart === 0 && this.#reading === undefined;
  }

  rawData(chunk: Buffer): void {
    if (this.#closing || this.#deaf) return;
    if (this.#left > 0) return this.#rawBody(chunk, 0);
    if (this.#reading === undefined) {
      const starts = this.headStart === 0;
      if (starts) {
        this.headStart = Math.ceil(performance.now());
        this.#headMatch = 0;
      }
      if (this.#headMatch >= 0 && this.#headMatch < 5) this.#headMatch = headMatch(this.#headMatch, chunk);
      const problem = starts ? requestLineProblem(chunk) : undefined;
      if (problem) return this.refuse(400, problem);
    }
    let parsed: number | ParseError;
    try {
      this.#parser ??= takeRequestParser(this.host.fe.limits.max_header_size, this);
      parsed = this.#parser.execute(chunk);
    } catch (err) {
      // Our own failure while handling what was parsed: this connection ends, the worker serves on.
      this.host.gen.report({ hook: 'http', frontend: this.host.fe.name, error: err });
      return void this.socket.destroy();
    }
    if (typeof parsed !== 'number') return this.#parseError(parsed);
    if (this.#left > 0) return this.#rawBody(chunk, parsed);
    this.#releaseWhenIdle();
    const upgrade = this.#exchanges.at(-1);
    if (upgrade?.upgrade && upgrade.head === undefined) {
      // llhttp stops at an upgrade's head: what follows belongs to the new protocol.
      upgrade.head = Buffer.from(chunk.subarray(parsed)); // a copy: a RawSocket's chunk is reused by its next read
      this.#stopReading();
      this.#piped = true;
      if (this.#exchanges.length === 1) this.#start(upgrade);
    }
  }

  /** llhttp: field lines flushed early (see ParserCallbacks). */
  onHeaders(raw: string[], url: string): void {
    if (this.#reading) return; // trailers of a chunked request body: not passed on
    (this.#early ??= []).push(...raw);
    this.#earlyUrl += url;
  }

  onHeadersComplete(
    major: number,
    minor: number,
    raw: string[] | undefined,
    method: number,
    url: string | undefined,
    _s: unknown,
    _m: unknown,
    upgrade: boolean,
    keepAlive: boolean,
  ): number {
    if (this.#early) {
      raw = raw ? [...this.#early, ...raw] : this.#early;
      url = this.#earlyUrl + (url ?? '');
      this.#early = undefined;
      this.#earlyUrl = '';
    }
    this.headStart = 0;
    const headers = headersOf(raw ?? []);
    let hosts = 0;
    if (raw) for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
    const name = methods[method] ?? 'GET';
    const version = major === 1 && minor === 1 ? '1.1' : `${major}.${minor}`;
    // HTTP/1.0 and 1.1 only: 0.9 is malformed, 2.0 and later are not spoken on this connection (h2c has its own preface).
    let refusal = major === 1 ? 0 : major === 0 ? 400 : 505;
    let target = url ?? '/';
    // Asterisk form is for OPTIONS alone (RFC 9112 3.2.4).
    if (!refusal && target === '*' && name !== 'OPTIONS') refusal = 400;
    if (!refusal && target.charCodeAt(0) !== 47 /* / */ && target !== '*') {
      // Absolute form (RFC 9112 3.2.2): the target's authority replaces any Host, and the server gets the origin form.
      // Host is still required in HTTP/1.1, once, and valid (RFC 9112 3.2): what refuses it is told by `hosts` and the value.
      const absolute = absoluteForm(target);
      const sent = headers.host;
      if (!absolute || (typeof sent === 'string' && !validHost(sent))) refusal = 400;
      else {
        target = absolute.path;
        headers.host = absolute.authority;
      }
    }
    const withBody = !upgrade && (headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0'));
    const exchange = new Exchange(this, name, target, version, headers, hosts, withBody, upgrade);
    if (refusal) {
      exchange.refusal = refusal;
      this.#closing = true;
    }
    exchange.res = new H1Response(this.socket, this, keepAlive && !upgrade, name === 'HEAD', version === '1.0');
    this.#reading = exchange;
    this.#exchanges.push(exchange);
    if (upgrade) {
      this.#closing = true; // nothing after an upgrade is HTTP/1
      if (name === 'CONNECT') exchange.refusal = 405;
      return 0;
    }
    if (this.#exchanges.length === 1) this.#start(exchange);
    // Pipelined behind an answer in progress: read no further until its turn.
    else this.socket.pause();
    // A body of known length on a RawSocket goes past llhttp: its per-chunk copy and callback are most of a large
    // upload's cost. 2: llhttp stops after the head, as after an upgrade's, and rawData hands the body on (#rawBody).
    const length = exchange.body && !refusal && this.socket instanceof RawSocket ? framedLength(headers) : undefined;
    if (length !== undefined) {
      this.#left = length;
      if (this.#left > 0) return 2;
    }
    return 0;
  }

  /** Bytes of a body read past llhttp, from `chunk` at `from`: copied into lent buffers (the read buffer is reused); the rest of the read is the next request's. */
  #rawBody(chunk: Buffer, from: number): void {
    const exchange = this.#reading;
    const n = Math.min(chunk.length - from, this.#left);
    this.#left -= n;
    if (n > 0 && exchange?.body && !exchange.body.destroyed && !exchange.body.push(lendCopy(chunk, from, from + n))) this.socket.pause();
    if (this.#left > 0) return;
    // The body is whole: llhttp took the head as an upgrade's, so it starts afresh for the next request.
    this.#parser?.initialize(HTTPParser.REQUEST, {}, this.host.fe.limits.max_header_size, 0);
    this.onMessageComplete();
    if (from + n < chunk.length) this.rawData(chunk.subarray(from + n));
    else this.#releaseWhenIdle();
  }

  onBody(chunk: Buffer): void {
    const body = this.#reading?.body;
    if (body && !body.push(chunk)) this.socket.pause();
  }

  onMessageComplete(): void {
    const exchange = this.#reading;
    if (!exchange || this.#left > 0) return; // (the head of a body read past llhttp: it completes in #rawBody)
    this.#reading = undefined;
    exchange.complete = true;
    exchange.body?.push(null);
  }

  /** Answers the exchange at the head of the line. */
  #start(exchange: Exchange): void {
    const host = this.host;
    const res = exchange.res!;
    if (exchange.refusal) {
      res.shouldKeepAlive = false;
      return writeRefusal(res, exchange.refusal, exchange.bare);
    }
    const expect = exchange.headers.expect;
    if (expect !== undefined) {
      if (String(expect).toLowerCase() !== '100-continue') {
        res.shouldKeepAlive = false;
        return writeRefusal(res, 417);
      }
      if (exchange.body && exchange.httpVersion === '1.1') this.socket.write('HTTP/1.1 100 Continue\r\n\r\n', 'latin1');
    }
    if (exchange.upgrade) {
      this.#tunnel = true;
      // A byte pipe from here: a whole net.Socket (a RawSocket hands its connection over, and follows it).
      const socket = this.socket instanceof RawSocket ? this.socket.toSocket() : this.socket;
      this.host.upgraded(socket);
      handleUpgrade(host.fe, host.gen, host, exchange, res, socket, exchange.head ?? Buffer.alloc(0));
    } else void handleHttpRequest(host.fe, host.gen, host, exchange, res);
  }

  /** ResponseOwner: an answer was written (or failed): the next pipelined one may start. */
  responded(res: H1Response, ok: boolean): void {
    const exchange = this.#exchanges[0];
    if (!exchange || exchange.res !== res) return;
    this.#exchanges.shift();
    // Emptied, the queue keeps room for 16 (152 bytes an idle connection): a length of 0 lets it go.
    if (this.#exchanges.length === 0) this.#exchanges.length = 0;
    if (!exchange.complete && !exchange.upgrade) {
      // The body is unread: what follows it cannot be told from requests.
      res.shouldKeepAlive = false;
      exchange.body?.destroy();
    }
    const socket = this.socket;
    if (exchange.upgrade) {
      // 101: the socket is the tunnel's now, and the exchange lasts as long as it; any other answer ends the connection.
      if (res.status === 101 && ok) return void socket.once('close', () => res.close());
      res.close();
      endOnce(socket);
      return;
    }
    res.close();
    if (!ok || !res.shouldKeepAlive) {
      this.#closing = true;
      this.#stopReading();
      for (const e of this.#exchanges.splice(0)) e.abort();
      endOnce(socket);
      return;
    }
    this.idleAt = Math.ceil(performance.now());
    const next = this.#exchanges[0];
    if (next) {
      if (!next.upgrade || next.head !== undefined) this.#start(next);
      socket.resume();
    } else if (this.#closing) endOnce(socket);
    else {
      // A body that filled its buffer and then ended in the same read left reading paused, with no _read() to come
      // (the body has ended): the next request must still be read.
      socket.resume();
      this.#releaseWhenIdle();
    }
  }

  /** Between requests (the last one read whole and answered, nothing of the next read), the parser goes back to the spares. */
  #releaseWhenIdle(): void {
    if (this.#parser === undefined || this.#closing || !this.idle) return;
    releaseRequestParser(this.#parser);
    this.#parser = undefined;
  }

  /** A request that cannot be parsed: 400 (431 for too large a head), then close. */
  #parseError(err: ParseError): void {
    const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
    const reading = this.#reading;
    this.#reading = undefined;
    if (reading?.body) {
      // A body that breaks its framing: the request's own answer reports it (its lifecycle's, or in its turn when pipelined).
      reading.body.destroy(new ClientFault(`bad request body: ${err.reason ?? err.code}`, 'P', 400, 'B', err.code));
      if (reading !== this.#exchanges[0]) reading.refusal = status;
      return this.refuse(status, err.code, reading);
    }
    this.refuse(status, err.code);
  }

  /**
   * No further request is read: `status` answers what broke (`broken`, an exchange that
   * answers for itself, or the bytes after the last request read), after the answers in
   * hand, and the connection closes.
   */
  refuse(status: number, _why: string, broken?: Exchange): void {
    this.headStart = 0;
    this.#closing = true;
    this.#stopReading();
    if (this.#exchanges.length > 0) {
      // Requests read whole are still answered, in order; the refusal goes last, and the connection closes after it.
      if (!broken) {
        // Bytes that do not parse behind the requests in hand: their method is unknown, so the answer has no body (right for HEAD too).
        const refusal = new Exchange(this, 'GET', '/', '1.1', {}, 1, false, false);
        refusal.refusal = status;
        refusal.bare = true;
        refusal.complete = true;
        refusal.res = new H1Response(this.socket, this, false, false, false);
        this.#exchanges.push(refusal);
      }
      this.#exchanges.at(-1)!.res!.shouldKeepAlive = false;
      return;
    }
    const socket = this.socket;
    if (!socket.writable) return void socket.destroy();
    const body = errorBody(status);
    // A HEAD request's answer has no body, even a refusal's (a client would read it as the next answer).
    socket.end(
      `HTTP/1.1 ${status} ${statusText(status)}\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${body.length}\r\nconnection: close\r\n\r\n${this.#headMatch === 5 ? '' : body}`,
      'latin1',
    );
  }

  #stopReading(): void {
    this.#deaf = true;
    this.#parser?.close?.();
    this.#parser = undefined;
  }

  /** The client half-closed: answers in hand still go out, then the connection ends. */
  rawEnd(): void {
    if (this.#piped) return;
    this.#closing = true;
    if (this.#reading?.body && !this.#reading.complete) this.#reading.body.destroy(new ClientFault('client closed during the body', 'C', 400, 'B'));
    if (this.#exchanges.length === 0) endOnce(this.socket);
  }

  rawTimeout(): void {
    if (!this.#piped) this.#onTimeout?.();
  }

  rawClose(): void {
    this.connections.delete(this);
    this.#stopReading();
    for (const e of this.#exchanges.splice(0)) e.abort();
    this.#reading = undefined;
  }

  // ClientRequest's per-connection facts, read once.
  get client(): Peer {
    // A RawSocket keeps the one object its address was read into.
    if (this.socket instanceof RawSocket) return this.socket.peer;
    return (this.#client ??= { address: this.socket.remoteAddress ?? '', port: this.socket.remotePort ?? 0 });
  }

  /** Our end: asked of the socket only when read (a dst_port condition, the cache's revalidation), not per connection. */
  get local(): Peer {
    // Made per request, not kept: the socket keeps what it was told, and the connection keeps nothing while idle.
    return new LocalPeer(this.socket);
  }

  get tls(): TlsInfo | undefined {
    if (this.#tls === null) this.#tls = this.socket instanceof RawSocket ? undefined : tlsInfoOf(this.socket);
    return this.#tls;
  }

  setTimeout(ms: number, onTimeout?: () => void): void {
    this.#onTimeout = ms > 0 ? onTimeout : undefined;
    this.socket.setTimeout(ms);
  }

  resumeBody(): void {
    if (this.#exchanges.length <= 1) this.socket.resume();
  }
}

class LocalPeer implements Peer {
  #address: string | undefined = undefined;
  #port = -1;

  constructor(private readonly socket: Socket | RawSocket) {}

  get address(): string {
    return (this.#address ??= this.socket.localAddress ?? '');
  }

  get port(): number {
    if (this.#port < 0) this.#port = this.socket.localPort ?? 0;
    return this.#port;
  }

  toJSON(): Peer {
    return { address: this.address, port: this.port };
  }
}

/** One request on a connection, as the lifecycle sees it (ClientRequest). */
class Exchange implements ClientRequest {
  readonly body: RequestBody | null;
  res: H1Response | undefined;
  /** The whole message was read (its body included). */
  complete = false;
  /** Bytes past an upgrade's head: the new protocol's first. */
  head: Buffer | undefined = undefined;
  /** Answered without the lifecycle (CONNECT, a version or target refused, bytes that do not parse). */
  refusal = 0;
  /** The refusal goes without a body (the request's method is not known). */
  bare = false;

  constructor(
    private readonly conn: H1Connection,
    readonly method: string,
    readonly url: string,
    readonly httpVersion: string,
    readonly headers: HttpHeaders,
    readonly hosts: number,
    withBody: boolean,
    readonly upgrade: boolean,
  ) {
    this.body = withBody ? new RequestBody(conn) : null;
  }

  get client(): Peer {
    return this.conn.client;
  }

  get local(): Peer {
    return this.conn.local;
  }

  get tls(): TlsInfo | undefined {
    return this.conn.tls;
  }

  setTimeout(ms: number, onTimeout?: () => void): void {
    this.conn.setTimeout(ms, onTimeout);
  }

  /** The connection is gone before this was answered. */
  abort(): void {
    // A body cut short is the client's doing in its body phase; one read whole only loses its reader.
    if (this.body && !this.body.destroyed)
      this.body.destroy(this.complete ? new ClientFault('client closed', 'C', 0) : new ClientFault('client closed during the body', 'C', 0, 'B'));
    this.res?.close();
  }
}

class RequestBody extends Readable {
  constructor(private readonly conn: H1Connection) {
    super();
    // Its failures (a broken framing, a client gone) may come before anyone reads it, or after the reader left:
    // they stay on `errored` for the request's lifecycle to read, never an unhandled 'error'.
    this.on('error', noop);
  }

  override _read(): void {
    this.conn.resumeBody();
  }
}

function writeRefusal(res: H1Response, status: number, bare = false): void {
  if (bare) return void res.writeHead(status, { 'content-length': '0' }).end();
  const body = errorBody(status);
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', 'content-length': String(body.length) });
  res.end(body);
}

const noop = (): void => undefined;

/** A net.Socket (TLS; h2c looked for) has only events: a listener each, calling the connection. */
function listen(socket: Socket, connection: H1Connection): void {
  socket.on('data', (chunk: Buffer) => connection.rawData(chunk));
  socket.on('end', () => connection.rawEnd());
  socket.on('timeout', () => connection.rawTimeout());
  socket.on('close', () => connection.rawClose());
}

/**
 * What is wrong with the request line at the start of `chunk`, when `chunk` holds it
 * whole: llhttp takes HTTP/0.9 (no version: it then waits for headers that never come)
 * and spaces repeated between the parts. RFC 9112 3: method SP request-target SP
 * HTTP-version, each single. Undefined when the line is right or not complete here.
 */
function requestLineProblem(chunk: Buffer): string | undefined {
  let i = 0;
  const n = chunk.length;
  while (i < n && (chunk[i] === 13 || chunk[i] === 10)) i++; // empty lines before a request are ignored (RFC 9112 2.2)
  const lf = chunk.indexOf(10, i);
  if (lf === -1) return undefined;
  const end = lf > i && chunk[lf - 1] === 13 ? lf - 1 : lf;
  // PRI is HTTP/2's preface: llhttp waits for the rest of it (SM), on a connection that speaks HTTP/1.
  if (chunk[i] === 80 && chunk[i + 1] === 82 && chunk[i + 2] === 73 && chunk[i + 3] === 32) return 'PRI (the HTTP/2 preface) on an HTTP/1 connection';
  while (i < end && chunk[i] !== 32) i++; // the method (llhttp checks its characters)
  if (i === end) return 'no request target';
  const target = ++i;
  while (i < end && chunk[i]! > 32 && chunk[i] !== 127) i++;
  if (i === target) return 'spaces repeated in the request line';
  if (i === end) return 'no HTTP version (HTTP/0.9)';
  // " HTTP/d.d" to the end, byte by byte (this runs for every request).
  if (
    end - i !== 9 ||
    chunk[i + 1] !== 72 ||
    chunk[i + 2] !== 84 ||
    chunk[i + 3] !== 84 ||
    chunk[i + 4] !== 80 ||
    chunk[i + 5] !== 47 ||
    !digit(chunk[i + 6]) ||
    chunk[i + 7] !== 46 ||
    !digit(chunk[i + 8])
  )
    return 'malformed request line';
  return undefined;
}
const digit = (b: number | undefined): boolean => b !== undefined && b >= 48 && b <= 57;

const headBytes = [72, 69, 65, 68, 32]; // "HEAD "
/**
 * How much of `HEAD ` a head's first bytes match, `matched` of them in earlier reads and
 * then those of `chunk` (empty lines before a request skipped): 5 for a HEAD request,
 * -1 for any other.
 */
function headMatch(matched: number, chunk: Buffer): number {
  let i = 0;
  if (matched === 0) while (i < chunk.length && (chunk[i] === 13 || chunk[i] === 10)) i++;
  for (; matched < 5 && i < chunk.length; i++, matched++) if (chunk[i] !== headBytes[matched]) return -1;
  return matched;
}

/** `http://authority/path?query` as its authority and origin form; undefined for any other target, or no authority, or userinfo. */
function absoluteForm(target: string): { authority: string; path: string } | undefined {
  const m = /^https?:\/\/([^/?#@\s]+)([/?][^#]*)?$/i.exec(target);
  if (!m) return undefined;
  const rest = m[2] ?? '';
  return { authority: m[1]!.toLowerCase(), path: rest === '' ? '/' : rest.charCodeAt(0) === 63 /* ? */ ? `/${rest}` : rest };
}

/** Ends our side once: a second end() costs node an Error with a stack (ERR_STREAM_ALREADY_FINISHED), per connection. */
function endOnce(socket: Socket | RawSocket): void {
  if (!socket.writableEnded) socket.end();
}
