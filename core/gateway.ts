// The running gateway in one process: listening sockets, and the generation they
// serve. Listeners are keyed by address, so a generation swap keeps every port that
// stays open, adds new ones, and closes removed ones after they drain.
import net, { type Socket } from 'node:net';
import tls, { type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import type { FrontendRuntime, Generation } from './generation.ts';
import type { HttpEnv } from './http/proxy.ts';
import { H1Engine } from './http/h1/server.ts';
import { RawSocket, acceptRaw } from './net/raw-socket.ts';
import { H2Engine } from './http/h2/engine.ts';
import { handleTcpConnection } from './tcp/proxy.ts';
import { formatAddress, type BindAddress } from '../sdk/units.ts';
import { AdminListener, applyServerChange } from './admin-listener.ts';
import type { AdminEnv } from './admin.ts';
import type { ServerChange } from '../sdk/admin.ts';
import type { ConnectionInfo } from '../sdk/hooks.ts';
import { mergeSnapshots, retained, withTotals, type MetricSample } from '../sdk/metrics.ts';
import type { AccessLog } from './log.ts';
import { applyServerTls } from './tls/termination.ts';
import { runner } from './taps.ts';

/** During a drain, a keep-alive connection idle this long is closed (shorter would race a client's next request more often). */
const drainIdleClose = 1000;

/** Gives a socket accepted by one frontend to another (TCP inspection routes). */
type Handoff = (frontend: string, socket: Socket) => boolean;

const noop = (): void => undefined;

function forgetIn(sockets: Set<Socket | RawSocket>): (this: Socket | RawSocket) => void {
  return function (this: Socket | RawSocket) {
    sockets.delete(this);
  };
}

export class Listener implements HttpEnv {
  draining = false;
  readonly sockets = new Set<Socket | RawSocket>();
  /** Every socket's 'close' listener: one function for all of them (an emitter calls it with itself as `this`). */
  readonly #forget = forgetIn(this.sockets);
  /** Upgraded connections (WebSocket...) and the generation serving each: a reload cuts the old one's at hard_stop_after. */
  readonly tunnels = new Map<Socket, Generation>();
  /** net.Server, or tls.Server for a frontend with `tls`: accepts connections for the protocol engines below. */
  readonly server: net.Server;
  /** HTTP/1.x, for http frontends: raw sockets read by llhttp (core/http/h1/server.ts). */
  readonly h1: H1Engine | undefined;
  /** HTTP/2, for http frontends: connections that chose `h2` by ALPN, or cleartext ones opening with its preface. */
  readonly h2: H2Engine | undefined;

  constructor(
    readonly key: string,
    /** Undefined for a frontend without `bind`: it only serves sockets handed to it. */
    readonly address: BindAddress | undefined,
    public fe: FrontendRuntime,
    public gen: Generation,
    readonly accessLog: AccessLog | undefined,
    readonly handoff: Handoff,
  ) {
    const http1 = fe.mode === 'http';
    if (http1) {
      this.h1 = new H1Engine(this);
      this.h2 = new H2Engine(this);
    }
    this.server = fe.tls
      ? tls.createServer({ allowHalfOpen: true, noDelay: true, SNICallback: this.#chooseCertificate }, (s) => (http1 ? this.#serveHttp(s) : this.#serveTcp(s)))
      : net.createServer({ allowHalfOpen: true, pauseOnConnect: !http1, noDelay: true });
    if (fe.tls) {
      this.server.on('tlsClientError', (err: Error) => this.gen.logger.debug({ frontend: this.fe.name, err: err.message }, 'TLS handshake failed'));
    }
    this.server.on('connection', (socket: Socket) => this.#accepted(socket));
    this.applyLimits();
  }

  #accepted(socket: Socket | RawSocket): void {
    // An error (a reset) is followed by 'close', which whoever serves the socket listens for; until one does
    // (a TLS handshake, h2c's preface being looked for, a hand-off), it must not be an unhandled 'error'.
    // (A RawSocket's engine, core/http/h1/server.ts, listens at once.)
    if (!(socket instanceof RawSocket)) socket.on('error', noop);
    if (this.fe.http.accept.taps.length && this.fe.mode === 'http') {
      const info = new Arrival(this.fe.name, socket);
      try {
        if (runner(this.fe.http.accept)(info) === false) return void socket.destroy();
      } catch (error) {
        this.gen.report({ hook: 'http.accept', frontend: this.fe.name, error });
        return void socket.destroy();
      }
    }
    this.sockets.add(socket);
    // 'close' comes once; a RawSocket's close hook costs no listener table.
    if (socket instanceof RawSocket) socket.onClose(this.#forget);
    else socket.on('close', this.#forget);
    if (this.fe.tls) return; // served once the handshake is done
    if (this.fe.mode !== 'http') return this.#serveTcp(socket as Socket); // (tcp frontends accept net.Sockets)
    if (socket instanceof RawSocket) {
      // A cleartext HTTP/2 preface is looked for on a net.Socket (h2c may have been turned on by a reload).
      if (this.fe.h2c) this.#serveHttp(socket.toSocket());
      else this.#serveHttp1(socket);
    } else this.#serveHttp(socket);
  }

  #serveTcp(socket: Socket): void {
    handleTcpConnection(this.fe, this.gen, this, socket);
  }

  /** A connection of an http frontend, TLS done if any: HTTP/2 when ALPN chose it (or its preface opens a cleartext one), HTTP/1.x otherwise. */
  #serveHttp(socket: Socket): void {
    if (this.h2!.claims(socket, (s) => this.#serveHttp1(s))) return;
    this.#serveHttp1(socket);
  }

  #serveHttp1(socket: Socket | RawSocket): void {
    this.h1!.serve(socket);
  }

  /** An HTTP/1 connection became a tunnel (WebSocket...): never idle, cut at hard_stop_after once its generation is gone. */
  upgraded(socket: Socket): void {
    this.tunnels.set(socket, this.gen);
    socket.once('close', () => this.tunnels.delete(socket));
  }

  /** SNI: the current generation's certificate for the name, so a kept listener serves a reload's certificates. */
  #chooseCertificate = (servername: string, done: (err: Error | null, context?: SecureContext) => void): void => {
    done(null, this.fe.tls?.contextFor(servername));
  };

  /** Ends the upgraded connections `gen` serves (a kept listener's, once a reload's hard_stop_after has passed). */
  cutTunnels(gen: Generation): void {
    for (const [socket, g] of this.tunnels) if (g === gen) socket.destroy();
  }

  /** Settings that may change on a kept listener. */
  applyLimits(): void {
    this.server.maxConnections = this.fe.maxconn || Infinity;
    this.h1?.applyLimits();
    if (this.fe.tls) applyServerTls(this.server as tls.Server, this.fe.tls, this.#chooseCertificate);
    this.h2?.applyLimits();
  }

  /** Serves a socket accepted elsewhere (with any bytes already read unshifted into it) as if accepted here. */
  adopt(socket: Socket): void {
    this.server.emit('connection', socket);
    // A paused socket's bytes put back (unshifted) reach a parser only once it flows. (A TLS server reads them itself.)
    if (this.fe.mode === 'http' && !this.fe.tls) socket.resume();
  }

  listen(): Promise<void> {
    const address = this.address;
    if (!address) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: address.host, port: address.port, backlog: 1024 }, () => {
        this.server.off('error', reject);
        // From here an error is one accept that failed (libuv absorbs EMFILE itself; what is left is rare): said, and the listener goes on.
        this.server.on('error', (err: NodeJS.ErrnoException) => this.#acceptFailed(err));
        // Cleartext HTTP/1: connections are RawSockets, not net.Sockets (core/net/raw-socket.ts).
        if (this.fe.mode === 'http' && !this.fe.tls && !this.fe.h2c) acceptRaw(this.server, (socket) => this.#accepted(socket));
        resolve();
      });
    });
  }

  #acceptErrors = 0;
  #acceptErrorSaid = 0;
  /** An accept failed: logged at most once a second, with the count. */
  #acceptFailed(err: NodeJS.ErrnoException): void {
    this.#acceptErrors++;
    const now = Date.now();
    if (now - this.#acceptErrorSaid < 1000) return;
    this.#acceptErrorSaid = now;
    this.gen.logger.warn({ frontend: this.fe.name, err: err.code ?? err.message, failed: this.#acceptErrors }, 'cannot accept connections');
    this.#acceptErrors = 0;
  }

  /**
   * Stops accepting and lets work in flight finish. Each next response says
   * `Connection: close`; keep-alive connections idle for a second are closed (not at
   * once: a client may be sending its next request on one right now).
   */
  drain(): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      if (this.fe.mode !== 'http') return;
      this.h2!.drain();
      const timer = setInterval(() => this.h1!.endIdle(drainIdleClose), drainIdleClose / 4);
      this.server.once('close', () => clearInterval(timer));
    });
  }

  /** Ends everything at once. */
  kill(): void {
    this.draining = true;
    this.server.close();
    this.h1?.kill();
    this.h2?.kill();
    for (const s of this.sockets) s.destroy();
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : (this.address?.port ?? 0);
  }
}

export interface GatewayOptions {
  logger: Logger;
  accessLog: AccessLog | undefined;
  /** What the stats listener's answers come from; default: this process alone (`Gateway.localAdmin`). */
  admin?: AdminEnv;
  /** How `POST /api/reload` reloads in a single process; absent: refused. */
  reload?: () => Promise<{ ok: boolean; generation?: number; error?: string; problems?: unknown[] }>;
}

export class Gateway {
  #generation: Generation;
  readonly #listeners = new Map<string, Listener>();
  readonly #retired = new Set<Generation>();
  #stats: AdminListener | undefined;
  /** Counters and histograms of generations gone (reloads): totals survive them. */
  #retiredMetrics: MetricSample[] = [];
  /** Run-time server changes (admin API), applied again to each new generation. */
  readonly #overrides = new Map<string, ServerChange>();
  readonly #started = Date.now();

  private constructor(
    generation: Generation,
    private readonly options: GatewayOptions,
  ) {
    this.#generation = generation;
  }

  /** This process's metrics: those still draining and the serving generation's, with the totals of those gone added to the families they still register. */
  metrics(): MetricSample[] {
    const live = [...this.#retired, this.#generation].map((g) => {
      if (g.app.collect.taps.length) runner(g.app.collect)();
      return g.metrics.snapshot();
    });
    return withTotals(this.#retiredMetrics, live);
  }

  /** The stats listener's view of a single process: itself. */
  readonly localAdmin: AdminEnv = {
    metrics: async () => this.metrics(),
    status: async () => ({
      pid: process.pid,
      generation: this.#generation.id,
      config: this.#generation.file,
      uptime_s: Math.round((Date.now() - this.#started) / 1000),
      workers: [{ pid: process.pid, generation: this.#generation.id, state: 'ready', since: new Date(this.#started).toISOString() }],
      worker_deaths: { total: 0, last: null },
    }),
    setServer: async (change) => this.setServer(change),
    reload: async () => (this.options.reload ? this.options.reload() : { ok: false, error: 'this process cannot reload itself' }),
  };

  /** A run-time change to a server of the serving generation, kept for the generations after it. */
  setServer(change: ServerChange): { ok: true } | { ok: false; error: string } {
    const result = applyServerChange(this.#generation, change);
    if (result.ok) {
      const key = `${change.backend}/${change.server}`;
      this.#overrides.set(key, { ...this.#overrides.get(key), ...change });
    }
    return result;
  }

  /** Generations still finishing their work after a swap. */
  get retiring(): number {
    return this.#retired.size;
  }

  /** The stats listener's port (useful with port 0); undefined without a `stats` section. */
  get statsPort(): number | undefined {
    return this.#stats?.port;
  }

  /** Opens, keeps or closes the stats listener for `gen`'s `stats` section. */
  async #statsFor(gen: Generation): Promise<void> {
    const wanted = gen.config.stats;
    const current = this.#stats;
    if (current && wanted && current.config.bind === wanted.bind) {
      current.config = wanted;
      current.gen = gen;
      return;
    }
    if (wanted) {
      const next = new AdminListener(wanted, gen, this.options.admin ?? this.localAdmin, this.options.logger);
      await next.listen();
      this.#stats = next;
    } else this.#stats = undefined;
    void current?.drain();
  }

  /** Binds every frontend of `generation` and serves it. */
  static async start(generation: Generation, options: GatewayOptions): Promise<Gateway> {
    const gateway = new Gateway(generation, options);
    try {
      for (const fe of generation.frontends.values()) {
        for (const [n, address] of bindsOf(fe).entries()) {
          const key = listenerKey(fe, address, n);
          const listener = new Listener(key, address, fe, generation, options.accessLog, gateway.#handoff);
          await listener.listen();
          gateway.#listeners.set(key, listener);
        }
      }
      await gateway.#statsFor(generation);
    } catch (err) {
      for (const l of gateway.#listeners.values()) l.kill();
      throw err;
    }
    generation.startHealthChecks();
    if (generation.app.listening.taps.length) runner(generation.app.listening)(generation.info);
    if (generation.app.ready.taps.length) runner(generation.app.ready)(generation.info);
    return gateway;
  }

  /** A tcp route hands a connection to frontend `name` of the serving generation. */
  #handoff: Handoff = (name, socket) => {
    for (const l of this.#listeners.values()) {
      if (l.fe.name === name) {
        l.adopt(socket);
        return true;
      }
    }
    return false;
  };

  get generation(): Generation {
    return this.#generation;
  }

  /** The port a frontend's n-th bind listens on (useful with port 0). */
  port(frontend: string, n = 0): number {
    const fe = this.#generation.frontends.get(frontend);
    const address = fe?.binds[n];
    const listener = address && this.#listeners.get(listenerKey(fe, address, n));
    if (!listener) throw new Error(`no listener for frontend ${frontend}`);
    return listener.port;
  }

  /** The listener serving a frontend's n-th bind, or the one it is handed sockets on when it has no bind. */
  listener(frontend: string, n = 0): Listener | undefined {
    const fe = this.#generation.frontends.get(frontend);
    return fe && this.#listeners.get(listenerKey(fe, bindsOf(fe)[n], n));
  }

  /**
   * Serves `next` from now on. Kept ports never close; new ones are bound first (a
   * failure leaves the old generation serving); removed ones drain. The old generation
   * is disposed once its requests are done, or at `hardAfter` ms.
   */
  async swap(next: Generation, hardAfter: number): Promise<void> {
    const wanted = new Map<string, { fe: FrontendRuntime; address: BindAddress | undefined }>();
    for (const fe of next.frontends.values()) for (const [n, address] of bindsOf(fe).entries()) wanted.set(listenerKey(fe, address, n), { fe, address });
    const added: Listener[] = [];
    try {
      for (const [key, { fe, address }] of wanted) {
        if (this.#listeners.has(key)) continue;
        const listener = new Listener(key, address, fe, next, this.options.accessLog, this.#handoff);
        await listener.listen();
        added.push(listener);
      }
      await this.#statsFor(next);
    } catch (err) {
      for (const l of added) l.kill();
      throw err;
    }
    // Run-time server changes outlive a reload for servers that are still there.
    for (const change of this.#overrides.values()) applyServerChange(next, change);
    const old = this.#generation;
    const removed: Listener[] = [];
    for (const [key, listener] of this.#listeners) {
      const w = wanted.get(key);
      if (w) {
        listener.fe = w.fe;
        listener.gen = next;
        listener.applyLimits();
      } else removed.push(listener);
    }
    for (const l of removed) this.#listeners.delete(l.key);
    for (const l of added) this.#listeners.set(l.key, l);
    this.#generation = next;
    next.startHealthChecks();
    if (next.app.listening.taps.length) runner(next.app.listening)(next.info);
    if (next.app.ready.taps.length) runner(next.app.ready)(next.info);
    void this.#retire(old, removed, hardAfter);
  }

  async #retire(old: Generation, listeners: Listener[], hardAfter: number): Promise<void> {
    this.#retired.add(old);
    if (old.app.drain.taps.length) runner(old.app.drain)(old.info);
    const hard = setTimeout(() => listeners.forEach((l) => l.kill()), hardAfter);
    // Upgraded connections on kept listeners live on with the old generation: they end at the same bound.
    setTimeout(() => this.#listeners.forEach((l) => l.cutTunnels(old)), hardAfter).unref();
    await Promise.all(listeners.map((l) => l.drain()));
    clearTimeout(hard);
    // Requests of the old generation on kept listeners finish on their own; give them the same bound.
    setTimeout(() => void old.dispose().then(() => this.#forget(old)), hardAfter).unref();
  }

  /** A generation is gone: its counters and histograms join the totals. */
  #forget(old: Generation): void {
    if (!this.#retired.delete(old)) return;
    this.#retiredMetrics = mergeSnapshots([this.#retiredMetrics, retained(old.metrics.snapshot())]);
  }

  /** Graceful: stop accepting, finish in-flight work, close; hard after `hardAfter` ms. */
  async stop(hardAfter: number): Promise<void> {
    const listeners = [...this.#listeners.values()];
    this.#listeners.clear();
    const stats = this.#stats;
    const gen = this.#generation;
    if (gen.app.drain.taps.length) runner(gen.app.drain)(gen.info);
    const hard = setTimeout(() => {
      listeners.forEach((l) => l.kill());
      stats?.close();
    }, hardAfter);
    // A request to the stats listener in flight is answered: a reload asked there drains this process.
    await Promise.all([...listeners.map((l) => l.drain()), stats?.drain()]);
    clearTimeout(hard);
    await Promise.all([gen.dispose(), ...[...this.#retired].map((g) => g.dispose())]);
    this.options.accessLog?.flush();
  }

  /** Hard stop: every connection ends now. */
  async kill(): Promise<void> {
    this.#stats?.close();
    for (const l of this.#listeners.values()) l.kill();
    this.#listeners.clear();
    await Promise.all([this.#generation, ...this.#retired].map((g) => g.dispose()));
    this.options.accessLog?.flush();
  }
}

/** A frontend's addresses; one `undefined` for a frontend without `bind` (it is handed sockets). */
const bindsOf = (fe: FrontendRuntime): readonly (BindAddress | undefined)[] => (fe.binds.length ? fe.binds : [undefined]);

/**
 * Port 0 (any free port, in tests) is never shared: each such bind (the `n`-th of its
 * frontend) is its own listener. The kind of server is part of the key: a port changing
 * mode, or TLS on or off, gets a new listener.
 */
function listenerKey(fe: FrontendRuntime, a: BindAddress | undefined, n: number): string {
  const kind = fe.tls ? `${fe.mode}+tls` : fe.mode;
  if (!a) return `${kind} ${fe.name} (handed)`;
  return a.port === 0 ? `${kind} ${fe.name}#${n} ${formatAddress(a)}` : `${kind} ${formatAddress(a)}`;
}

/**
 * What http.accept taps see of a connection. The addresses are asked of the kernel only
 * when a tap reads them (getsockname, getpeername): the stats plugin's tap, on every
 * connection, reads only the frontend. Serialized (a tap logging it), it is the five fields.
 */
class Arrival implements ConnectionInfo {
  readonly #socket: Socket | RawSocket;
  constructor(
    readonly frontend: string,
    socket: Socket | RawSocket,
  ) {
    this.#socket = socket;
  }
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? '';
  }
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
  get localAddress(): string {
    return this.#socket.localAddress ?? '';
  }
  get localPort(): number {
    return this.#socket.localPort ?? 0;
  }
  toJSON(): ConnectionInfo {
    const { frontend, remoteAddress, remotePort, localAddress, localPort } = this;
    return { frontend, remoteAddress, remotePort, localAddress, localPort };
  }
}
