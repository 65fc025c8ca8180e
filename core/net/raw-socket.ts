// A TCP connection driven on libuv's handle directly, without net.Socket: node's own
// stream bindings (the ones net.Socket is built on) for reads, writes and shutdown, and
// only the part of net.Socket's surface the HTTP/1 engine uses. net.Socket costs a
// Duplex (two stream states, a dozen listeners) per connection and a trip through
// Readable and Writable per read and write; here a read is one callback and a write one
// call into the handle. Where a connection needs a whole net.Socket (an upgrade's byte
// pipe), `toSocket()` hands the same handle over to one, and this object follows it.
//
// The bindings come from `process.binding('stream_wrap')` (TCP handles, WriteWrap,
// ShutdownWrap, the shared state array): internal to node, stable since node 12, and
// pinned by test/core/net/raw-socket.test.ts.
import { EventEmitter } from 'node:events';
import net, { type Socket } from 'node:net';
import { getSystemErrorName } from 'node:util';

interface StreamBinding {
  WriteWrap: new () => WriteReq;
  ShutdownWrap: new () => ShutdownReq;
  streamBaseState: Int32Array;
  kReadBytesOrError: number;
  kBytesWritten: number;
  kLastWriteWasAsync: number;
}

/** libuv's TCP handle, as node's tcp_wrap exposes it. */
export interface TcpHandle {
  onread: (this: TcpHandle, buffer: ArrayBuffer | undefined) => void;
  owner?: RawSocket;
  readonly writeQueueSize: number;
  readStart(): number;
  readStop(): number;
  /** Reads land in `buffer` (the read callback then gets no ArrayBuffer) instead of a fresh allocation each. */
  useUserBuffer(buffer: Uint8Array): void;
  writeBuffer(req: WriteReq, data: Uint8Array): number;
  writeLatin1String(req: WriteReq, data: string): number;
  writeUtf8String(req: WriteReq, data: string): number;
  writev(req: WriteReq, chunks: unknown[], allBuffers: boolean): number;
  shutdown(req: ShutdownReq): number;
  close(callback: () => void): void;
  setNoDelay(on: boolean): number;
  connect(req: ConnectReq, address: string, port: number): number;
  connect6(req: ConnectReq, address: string, port: number): number;
  getpeername(out: Record<string, unknown>): number;
  getsockname(out: Record<string, unknown>): number;
}

interface WriteReq {
  handle: TcpHandle;
  oncomplete: (this: WriteReq, status: number) => void;
  owner: RawSocket;
  /** Kept alive until libuv has written it. */
  data: unknown;
  callback: Callback | Callback[] | undefined;
}

interface ShutdownReq {
  handle: TcpHandle;
  oncomplete: (this: ShutdownReq, status: number) => void;
  owner: RawSocket;
}

type Callback = (err?: Error | null) => void;

interface TcpBinding {
  TCP: new (type: number) => TcpHandle;
  TCPConnectWrap: new () => ConnectReq;
  constants: { SOCKET: number };
}

interface ConnectReq {
  oncomplete: (this: ConnectReq, status: number) => void;
  owner: RawSocket;
  address: string;
  port: number;
}

const internal = process as unknown as { binding(name: string): unknown };
const binding = internal.binding('stream_wrap') as StreamBinding;
const tcp = internal.binding('tcp_wrap') as TcpBinding;
const { WriteWrap, ShutdownWrap, streamBaseState, kReadBytesOrError, kLastWriteWasAsync } = binding;
/** libuv's UV_EOF, the same on every platform. */
const UV_EOF = -4095;
/**
 * Where every RawSocket's reads land: one buffer for the process, instead of a 64 KiB
 * allocation (then shrunk, then wrapped in an ArrayBuffer) per read. libuv calls back for
 * one read at a time and the 'data' listeners run before the next, so a chunk is valid
 * until its listeners return: whatever they keep, they copy (llhttp copies the bodies and
 * strings it hands out already).
 */
const readBuffer = Buffer.allocUnsafe(64 * 1024);
/** Queued bytes above which `write()` says wait for 'drain' (net.Socket's default high-water mark). */
const highWaterMark = 16 * 1024;

function uvError(status: number, syscall: string): NodeJS.ErrnoException {
  const code = getSystemErrorName(status);
  return Object.assign(new Error(`${syscall} ${code}`), { errno: status, code, syscall });
}

/** The bytes and callbacks of writes made while corked: one writev on uncork. */
interface Corked {
  chunks: unknown[];
  allBuffers: boolean;
  callbacks: Callback[];
}

/**
 * Who serves a connection, called directly: one object per connection instead of a
 * listener (a closure) per event. It hears what the events of the same names say, before
 * their listeners (if any), and 'data' goes to it alone. An 'error' with no listener is
 * not emitted to an owned connection (it would throw): the owner hears `rawClose(true)`.
 */
export interface RawSocketOwner {
  /** The bytes are valid until this returns (see `readBuffer`). */
  rawData(chunk: Buffer): void;
  rawEnd(): void;
  rawTimeout(): void;
  rawClose(hadError: boolean): void;
}

/**
 * The events are net.Socket's, with its meanings: 'data', 'end' (the peer's FIN; the
 * socket is always half-open), 'drain', 'timeout', 'error' (then 'close'), 'close'.
 */
export class RawSocket extends EventEmitter {
  destroyed = false;
  /** `end()` was called: no more writes. */
  writableEnded = false;
  /** Our FIN went out after every byte written. */
  writableFinished = false;
  /** The peer's FIN arrived. */
  readableEnded = false;
  #handle: TcpHandle;
  #paused = false;
  #needDrain = false;
  #corked: Corked | undefined = undefined;
  #timeout: NodeJS.Timeout | undefined = undefined;
  #peer: { address?: string; port?: number; family?: string } | undefined = undefined;
  #local: { address?: string; port?: number } | undefined = undefined;
  /** After `toSocket()`: every call goes to it. */
  #socket: Socket | undefined = undefined;
  /** `end()` came while connecting: the FIN follows the connection. */
  #endAfterConnect = false;
  #owner: RawSocketOwner | undefined = undefined;

  /** Until `connect()`'s connection is made: writes wait (corked), reading starts after. */
  connecting = false;

  constructor(handle: TcpHandle, connecting = false) {
    super();
    // No listener table until a listener is added (node's EventEmitter makes one on the first
    // on(), and every method reads `undefined` as none): an accepted connection served by its
    // owner alone never has one, which is about 200 bytes less a connection.
    (this as unknown as { _events: unknown })._events = undefined;
    this.#handle = handle;
    handle.owner = this;
    handle.onread = onread;
    handle.useUserBuffer(readBuffer);
    if (connecting) {
      this.connecting = true;
      this.#corked = { chunks: [], allBuffers: true, callbacks: [] };
      return;
    }
    const err = handle.readStart();
    if (err) process.nextTick(() => this.destroy(uvError(err, 'read')));
  }

  /** `owner` hears this connection from now on (see RawSocketOwner). */
  attach(owner: RawSocketOwner): void {
    this.#owner = owner;
  }

  /**
   * A connection to `address` (an IP address: no name lookup here) and `port`; 'connect'
   * once made, 'error' and 'close' if it cannot be. Writes made meanwhile wait for it.
   */
  static connect(address: string, port: number): RawSocket {
    const handle = new tcp.TCP(tcp.constants.SOCKET);
    const socket = new RawSocket(handle, true);
    const req = new tcp.TCPConnectWrap();
    req.oncomplete = onconnect;
    req.owner = socket;
    req.address = address;
    req.port = port;
    const err = net.isIPv6(address) ? handle.connect6(req, address, port) : handle.connect(req, address, port);
    if (err) process.nextTick(() => socket.destroy(connectError(err, address, port)));
    return socket;
  }

  /** @internal the connection is made (status 0), or could not be. */
  connected(status: number, address: string, port: number): void {
    if (this.destroyed) return;
    if (status < 0) return void this.destroy(connectError(status, address, port));
    this.connecting = false;
    const handle = this.#handle;
    handle.setNoDelay(true);
    if (!this.#paused) {
      const err = handle.readStart();
      if (err) return void this.destroy(uvError(err, 'read'));
    }
    this.uncork();
    if (this.#endAfterConnect) this.#shutdown();
    this.emit('connect');
  }

  get writable(): boolean {
    return this.#socket ? this.#socket.writable : !this.destroyed && !this.writableEnded;
  }

  get writableNeedDrain(): boolean {
    return this.#socket ? this.#socket.writableNeedDrain : this.#needDrain;
  }

  get remoteAddress(): string | undefined {
    return this.#peerName().address;
  }

  get remotePort(): number | undefined {
    return this.#peerName().port;
  }

  get remoteFamily(): string | undefined {
    return this.#peerName().family;
  }

  get localAddress(): string | undefined {
    return this.#localName().address;
  }

  get localPort(): number | undefined {
    return this.#localName().port;
  }

  /**
   * The peer's address and port, one object made once (the one remoteAddress reads): a
   * connection's client needs no copy of its own. Empty when the socket could not say.
   */
  get peer(): { readonly address: string; readonly port: number } {
    const p = this.#peerName();
    return p.address !== undefined && p.port !== undefined ? (p as { address: string; port: number }) : { address: p.address ?? '', port: p.port ?? 0 };
  }

  #peerName(): { address?: string; port?: number; family?: string } {
    if (this.#peer === undefined) {
      const out: { address?: string; port?: number; family?: string } = {};
      if (!this.destroyed) this.#handle.getpeername(out);
      this.#peer = out;
    }
    return this.#peer;
  }

  #localName(): { address?: string; port?: number } {
    if (this.#local === undefined) {
      const out: { address?: string; port?: number } = {};
      if (!this.destroyed) this.#handle.getsockname(out);
      this.#local = out;
    }
    return this.#local;
  }

  /** @internal the handle's read callback (below): the bytes are in `readBuffer`, valid while 'data' is emitted. */
  read(): void {
    const n = streamBaseState[kReadBytesOrError]!;
    if (n > 0) {
      if (this.#timeout) this.#timeout.refresh();
      const chunk = readBuffer.subarray(0, n);
      if (this.#owner) this.#owner.rawData(chunk);
      else this.emit('data', chunk);
      return;
    }
    if (n === 0) return;
    if (n !== UV_EOF) return void this.destroy(uvError(n, 'read'));
    this.#handle.readStop();
    this.readableEnded = true;
    this.#owner?.rawEnd();
    this.emit('end');
    if (this.writableFinished) this.destroy();
  }

  write(data: Uint8Array | string, encoding?: BufferEncoding | Callback, callback?: Callback): boolean {
    if (this.#socket) return this.#socket.write(data, encoding as BufferEncoding, callback);
    if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (this.destroyed || this.writableEnded) {
      if (callback) process.nextTick(callback, Object.assign(new Error('write after end'), { code: 'ERR_STREAM_WRITE_AFTER_END' }));
      return false;
    }
    if (this.#timeout) this.#timeout.refresh();
    const corked = this.#corked;
    if (corked) {
      if (typeof data === 'string') {
        corked.allBuffers = false;
        corked.chunks.push(data, encoding ?? 'utf8');
      } else corked.chunks.push(data, 'buffer');
      if (callback) corked.callbacks.push(callback);
      return !this.#needDrain;
    }
    const req = newWrite(this, data, callback);
    const handle = this.#handle;
    const err =
      typeof data !== 'string'
        ? handle.writeBuffer(req, data)
        : encoding === 'latin1' || encoding === 'binary'
          ? handle.writeLatin1String(req, data)
          : handle.writeUtf8String(req, data);
    return this.#dispatched(req, err);
  }

  /** Writes wait for `uncork()` and leave in one writev. Unlike net.Socket's, corks do not nest. */
  cork(): void {
    if (this.#socket) return this.#socket.cork();
    this.#corked ??= { chunks: [], allBuffers: true, callbacks: [] };
  }

  uncork(): void {
    if (this.#socket) return this.#socket.uncork();
    if (this.connecting) return; // what was written waits for the connection
    const corked = this.#corked;
    if (!corked) return;
    this.#corked = undefined;
    const { chunks, callbacks } = corked;
    if (chunks.length === 0) {
      for (const callback of callbacks) process.nextTick(callback);
      return;
    }
    if (this.destroyed) return;
    let list: unknown[] = chunks;
    if (corked.allBuffers) {
      list = [];
      for (let i = 0; i < chunks.length; i += 2) list.push(chunks[i]);
    }
    const req = newWrite(this, list, callbacks.length ? callbacks : undefined);
    this.#dispatched(req, this.#handle.writev(req, list, corked.allBuffers));
  }

  /** After a write reached the handle: done now, or once libuv has written it. */
  #dispatched(req: WriteReq, err: number): boolean {
    if (err !== 0) {
      const error = uvError(err, 'write');
      this.destroy(error);
      if (req.callback) callBack(req.callback, error);
      return false;
    }
    if (streamBaseState[kLastWriteWasAsync]) {
      if (this.#handle.writeQueueSize >= highWaterMark) this.#needDrain = true;
    } else {
      req.data = undefined;
      if (req.callback) callBack(req.callback, null);
    }
    return !this.#needDrain;
  }

  /** @internal a write libuv finished later. */
  written(req: WriteReq, status: number): void {
    req.data = undefined;
    const error = status < 0 ? uvError(status, 'write') : null;
    if (req.callback) callBack(req.callback, error);
    if (error) return void this.destroy(error);
    if (this.#needDrain && this.#handle.writeQueueSize === 0 && !this.destroyed) {
      this.#needDrain = false;
      this.emit('drain');
    }
  }

  end(data?: Uint8Array | string | Callback, encoding?: BufferEncoding | Callback, callback?: Callback): this {
    if (this.#socket) return (void this.#socket.end(data as string, encoding as BufferEncoding, callback), this);
    if (typeof data === 'function') {
      callback = data;
      data = undefined;
    } else if (typeof encoding === 'function') {
      callback = encoding;
      encoding = undefined;
    }
    if (data !== undefined && data.length > 0) this.write(data, encoding);
    if (this.#corked) this.uncork();
    if (this.writableEnded || this.destroyed) return this;
    this.writableEnded = true;
    if (callback) this.once('finish', callback);
    if (this.connecting) this.#endAfterConnect = true;
    else this.#shutdown();
    return this;
  }

  #shutdown(): void {
    const req = new ShutdownWrap();
    req.handle = this.#handle;
    req.owner = this;
    req.oncomplete = onshutdown;
    const err = this.#handle.shutdown(req);
    // 1: done at once (nothing queued)
    if (err === 1) process.nextTick(() => this.finished(0));
    else if (err !== 0) this.destroy(uvError(err, 'shutdown'));
  }

  /** @internal our FIN is out (or could not be sent). */
  finished(status: number): void {
    if (this.destroyed) return;
    if (status < 0 && status !== -107 /* ENOTCONN: the peer is gone already */) return void this.destroy(uvError(status, 'shutdown'));
    this.writableFinished = true;
    this.emit('finish');
    if (this.readableEnded) this.destroy();
  }

  destroy(error?: Error): this {
    if (this.#socket) return (void this.#socket.destroy(error), this);
    if (this.destroyed) return this;
    this.destroyed = true;
    this.#needDrain = false;
    // Writes still waiting (corked, or for the connection) will not be made: their callbacks hear why.
    const waiting = this.#corked?.callbacks;
    this.#corked = undefined;
    if (waiting?.length) callBack(waiting, error ?? Object.assign(new Error('the connection was closed before the write'), { code: 'ERR_STREAM_DESTROYED' }));
    this.#clearTimeout();
    const handle = this.#handle;
    handle.readStop();
    handle.onread = noop;
    handle.owner = undefined;
    if (error) process.nextTick(emitError, this, error);
    handle.close(() => this.#closed(error !== undefined));
    return this;
  }

  #closed(hadError: boolean): void {
    this.#owner?.rawClose(hadError);
    const hook = this.#closeHook;
    const more = this.#closeHooks;
    this.#closeHook = this.#closeHooks = undefined;
    hook?.call(this);
    if (more) for (const h of more) h.call(this);
    this.emit('close', hadError);
  }

  /** The first told of the close by `onClose`. */
  #closeHook: ((this: RawSocket) => void) | undefined = undefined;
  /** Any after it. */
  #closeHooks: ((this: RawSocket) => void)[] | undefined = undefined;

  /**
   * `hook` is called (with the socket as `this`) when the connection closes, after its
   * owner and before the 'close' listeners: what a 'close' listener does, without a
   * listener table per connection. For bookkeeping done on every connection (counts, sets).
   */
  onClose(hook: (this: RawSocket) => void): void {
    if (this.#closeHook === undefined && this.#closeHooks === undefined) this.#closeHook = hook;
    // Made to size (a push would leave room for 16): an accepted connection has two (see acceptRaw and the gateway).
    else this.#closeHooks = this.#closeHooks ? [...this.#closeHooks, hook] : [hook];
  }

  /** Whether an owner serves this connection (see `attach`). */
  get owned(): boolean {
    return this.#owner !== undefined;
  }

  pause(): this {
    if (this.#socket) return (void this.#socket.pause(), this);
    if (!this.#paused) {
      this.#paused = true;
      if (!this.destroyed && !this.readableEnded && !this.connecting) this.#handle.readStop();
    }
    return this;
  }

  resume(): this {
    if (this.#socket) return (void this.#socket.resume(), this);
    if (this.#paused) {
      this.#paused = false;
      if (!this.destroyed && !this.readableEnded && !this.connecting) this.#handle.readStart();
    }
    return this;
  }

  isPaused(): boolean {
    return this.#socket ? this.#socket.isPaused() : this.#paused;
  }

  /** net.Socket's: 'timeout' after `ms` without a read or a write (0: none). */
  setTimeout(ms: number, onTimeout?: () => void): this {
    if (this.#socket) return (void this.#socket.setTimeout(ms, onTimeout), this);
    this.#clearTimeout();
    if (ms > 0 && !this.destroyed) this.#timeout = setTimeout(emitTimeout, ms, this).unref();
    if (onTimeout) this.once('timeout', onTimeout);
    return this;
  }

  #clearTimeout(): void {
    if (this.#timeout) {
      clearTimeout(this.#timeout);
      this.#timeout = undefined;
    }
  }

  /** @internal */
  timedOut(): void {
    if (this.#timeout && !this.destroyed) {
      this.#owner?.rawTimeout();
      this.emit('timeout');
    }
  }

  /**
   * The same connection as a net.Socket (an upgrade's byte pipe needs all of one). Reading
   * resumes there; writes in flight finish; this object's calls and 'close' follow it.
   */
  toSocket(): Socket {
    if (this.#socket) return this.#socket;
    if (this.destroyed || this.connecting) throw new Error(this.destroyed ? 'the connection is closed' : 'the connection is not made yet');
    this.#clearTimeout();
    const handle = this.#handle;
    handle.readStop();
    handle.onread = noop;
    handle.owner = undefined;
    // The handle reads into `readBuffer` for good (libuv's listener cannot be taken back): the net.Socket is told so, and
    // pushes copies. With `onread`, its pause() stops reading at the handle, and resume() (not a 'readable' listener) restarts it.
    const onread = { buffer: readBuffer, callback: pushCopy };
    const socket = new net.Socket({ handle, readable: true, writable: true, allowHalfOpen: true, onread } as net.SocketConstructorOpts);
    if (this.#paused) socket.pause();
    // Its new owner (a tunnel) may listen for errors only later: until then an error is only the 'close' that follows it.
    socket.on('error', noop);
    this.#socket = socket;
    socket.once('close', (hadError: boolean) => {
      this.destroyed = true;
      this.#closed(hadError);
    });
    return socket;
  }
}

function onread(this: TcpHandle): void {
  this.owner?.read();
}

/** A handed-over socket's reads (net.Socket's `onread` callback): a copy of the bytes, pushed as it would have pushed them. */
function pushCopy(this: Socket, n: number, buffer: Uint8Array): boolean {
  return this.push(Buffer.from(buffer.subarray(0, n)));
}

function onconnect(this: ConnectReq, status: number): void {
  this.owner.connected(status, this.address, this.port);
}

/** As net.Socket words it: `connect ECONNREFUSED 127.0.0.1:8080`, with `address` and `port`. */
function connectError(status: number, address: string, port: number): NodeJS.ErrnoException {
  const err = uvError(status, 'connect');
  err.message = `connect ${err.code} ${address}:${port}`;
  return Object.assign(err, { address, port });
}

function onwritten(this: WriteReq, status: number): void {
  this.owner.written(this, status);
}

function onshutdown(this: ShutdownReq, status: number): void {
  this.owner.finished(status);
}

function newWrite(owner: RawSocket, data: unknown, callback: Callback | Callback[] | undefined): WriteReq {
  const req = new WriteWrap();
  req.owner = owner;
  req.oncomplete = onwritten;
  req.data = data;
  req.callback = callback;
  return req;
}

/** Write callbacks run after the current operation, as net.Socket's do. */
function callBack(callback: Callback | Callback[], error: Error | null): void {
  if (typeof callback === 'function') process.nextTick(callback, error);
  else for (const c of callback) process.nextTick(c, error);
}

/** An error no one listens for on an owned connection is the owner's to hear, as the 'close' that follows it (hadError). */
function emitError(socket: RawSocket, error: Error): void {
  if (socket.owned && socket.listenerCount('error') === 0) return;
  socket.emit('error', error);
}

function emitTimeout(socket: RawSocket): void {
  socket.timedOut();
}

/**
 * Takes over `server`'s accepting: each connection becomes a RawSocket given to
 * `onConnection` (net.Server's `maxConnections` and connection count, so `close()` still
 * waits for them). Call once the server listens.
 */
export function acceptRaw(server: net.Server, onConnection: (socket: RawSocket) => void): void {
  const counted = server as net.Server & { _handle: { onconnection: unknown } | null; _connections: number; _emitCloseIfDrained(): void };
  const handle = counted._handle;
  if (!handle) throw new Error('acceptRaw: the server is not listening');
  // One listener function for every connection of the server (not a once() wrapper and a closure each).
  const onClose = (): void => {
    counted._connections--;
    counted._emitCloseIfDrained();
  };
  handle.onconnection = (err: number, client: TcpHandle | undefined) => {
    if (err || !client) return void server.emit('error', uvError(err, 'accept'));
    if (server.maxConnections && counted._connections >= server.maxConnections) return void client.close(noop);
    client.setNoDelay(true);
    const socket = new RawSocket(client);
    counted._connections++;
    socket.onClose(onClose);
    onConnection(socket);
  };
}

/** Does nothing: a closed or handed-over handle's read callback (it must stay a function: node asserts it), a refused connection's close callback. */
function noop(): void {}
