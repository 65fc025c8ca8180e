// The hot path of the stats plugin: label cells bound once per generation (per
// frontend, route, backend and server, looked up by object identity), then a few
// increments and histogram observations when a request or a session ends. Gauges that
// mirror live state (in flight, queues, server status) are set only in `app.collect`.
import {
  chargedTo,
  httpTermination,
  tcpTermination,
  type BackendView,
  type BoundCounter,
  type BoundGauge,
  type BoundHistogram,
  type HttpContext,
  type Labels,
  type Metrics,
  type RouteView,
  type ServerView,
  type TcpContext,
} from '../../sdk/index.ts';
import { classIndex, M, responseClasses, serverStatuses, type MetricDef } from './metrics.ts';
import { downtimeMs, serverStatus } from './status.ts';

interface FrontendCells {
  connections: BoundCounter;
  sessions: BoundCounter;
  bytesIn: BoundCounter;
  bytesOut: BoundCounter;
  responses: BoundCounter[];
  errors: BoundCounter;
  denied: BoundCounter;
  /** Requests by HTTP version ("1.1", "2.0"...), bound on first use. */
  versions: Map<string, BoundCounter>;
  seconds: BoundHistogram;
  current: BoundGauge;
  max: BoundGauge;
  /** In progress now, and the most at once: plain numbers on the hot path, copied to the gauges on collect. */
  live: number;
  peak: number;
}

interface RouteCells {
  sessions: BoundCounter;
  responses: BoundCounter[];
}

interface BackendCells {
  sessions: BoundCounter;
  bytesIn: BoundCounter;
  bytesOut: BoundCounter;
  responses: BoundCounter[];
  connectionErrors: BoundCounter;
  responseErrors: BoundCounter;
  retries: BoundCounter;
  queueSeconds: BoundHistogram;
  connectSeconds: BoundHistogram;
  ttfbSeconds: BoundHistogram;
  seconds: BoundHistogram;
  current: BoundGauge;
  max: BoundGauge;
  queueCurrent: BoundGauge;
  queueMax: BoundGauge;
}

interface ServerCells {
  sessions: BoundCounter;
  bytesIn: BoundCounter;
  bytesOut: BoundCounter;
  responses: BoundCounter[];
  connectionErrors: BoundCounter;
  responseErrors: BoundCounter;
  ttfbSeconds: BoundHistogram;
  connectSeconds: BoundHistogram;
  current: BoundGauge;
  max: BoundGauge;
  status: BoundGauge[];
  weight: BoundGauge;
  checkSeconds: BoundGauge;
  downtime: BoundGauge;
}

/** Where an error comes from. */
type ErrorSide = 'connect' | 'server' | 'client' | 'other';

/**
 * From the termination state (the access log's two letters): the server refused or
 * timed out while connecting (`SC`, `sC`), the server broke or did not answer an
 * exchange (`S`/`s` once connected), the client left or timed out (`C`, `c`), or the
 * gateway refused (`P`, a queue timeout `sQ`, ...); undefined for a normal end.
 */
export function errorSide(ctx: HttpContext | TcpContext): ErrorSide | undefined {
  const t = ctx.kind === 'http' ? httpTermination(ctx) : tcpTermination(ctx);
  const who = t[0];
  if (who === '-' || who === 'L') return undefined;
  if (who === 'C' || who === 'c') return 'client';
  const charged = chargedTo(t);
  return charged === 'connect' ? 'connect' : charged === 'response' ? 'server' : 'other';
}

/** The status is the server's to answer for: it answered (the client may have left after), or it failed. */
function serversStatus(ctx: HttpContext, side: ErrorSide | undefined): boolean {
  if (side === undefined) return ctx.server !== undefined;
  return side === 'connect' || side === 'server' || (side === 'client' && ctx.timings.ttfb >= 0);
}

/** Marks an HTTP request counted as in progress, holding its frontend's cells. */
const inProgress = Symbol('stats: in progress');
type Marked = Record<symbol, FrontendCells | undefined>;

export class Counting {
  readonly #metrics: Metrics;
  readonly #frontends = new Map<string, FrontendCells>();
  readonly #routes = new Map<RouteView, RouteCells>();
  readonly #backends = new Map<BackendView, BackendCells>();
  readonly #servers = new Map<ServerView, ServerCells>();

  constructor(metrics: Metrics) {
    this.#metrics = metrics;
  }

  #counter(def: MetricDef, labels: Labels): BoundCounter {
    return this.#metrics.counter(def.name, def.help).bind(labels);
  }
  #gauge(def: MetricDef, labels: Labels): BoundGauge {
    return this.#metrics.gauge(def.name, def.help, def.merge).bind(labels);
  }
  #histogram(def: MetricDef, labels: Labels): BoundHistogram {
    return this.#metrics.histogram(def.name, def.help, def.buckets).bind(labels);
  }
  #byClass(def: MetricDef, labels: Labels): BoundCounter[] {
    return responseClasses.map((code) => this.#counter(def, { ...labels, code }));
  }

  /** Binds every frontend, backend and server of the generation, so each shows (with zeros) before any traffic. */
  bindAll(frontends: Iterable<string>, backends: Iterable<BackendView>): void {
    for (const name of frontends) this.frontend(name);
    for (const b of backends) {
      this.backend(b);
      for (const s of b.servers) this.server(s);
    }
  }

  frontend(name: string): FrontendCells {
    let cells = this.#frontends.get(name);
    if (!cells) {
      const l = { frontend: name };
      cells = {
        connections: this.#counter(M.feConnections, l),
        sessions: this.#counter(M.feSessions, l),
        bytesIn: this.#counter(M.feBytesIn, l),
        bytesOut: this.#counter(M.feBytesOut, l),
        responses: this.#byClass(M.feResponses, l),
        errors: this.#counter(M.feErrors, l),
        denied: this.#counter(M.feDenied, l),
        versions: new Map(),
        seconds: this.#histogram(M.feSeconds, l),
        current: this.#gauge(M.feCurrent, l),
        max: this.#gauge(M.feMax, l),
        live: 0,
        peak: 0,
      };
      this.#frontends.set(name, cells);
    }
    return cells;
  }

  /** Routes are bound on first use: a frontend may have thousands. */
  route(route: RouteView): RouteCells {
    let cells = this.#routes.get(route);
    if (!cells) {
      const l = { frontend: route.frontend, route: route.name };
      cells = { sessions: this.#counter(M.routeSessions, l), responses: this.#byClass(M.routeResponses, l) };
      this.#routes.set(route, cells);
    }
    return cells;
  }

  backend(backend: BackendView): BackendCells {
    let cells = this.#backends.get(backend);
    if (!cells) {
      const l = { backend: backend.name };
      cells = {
        sessions: this.#counter(M.beSessions, l),
        bytesIn: this.#counter(M.beBytesIn, l),
        bytesOut: this.#counter(M.beBytesOut, l),
        responses: this.#byClass(M.beResponses, l),
        connectionErrors: this.#counter(M.beConnectionErrors, l),
        responseErrors: this.#counter(M.beResponseErrors, l),
        retries: this.#counter(M.beRetries, l),
        queueSeconds: this.#histogram(M.beQueueSeconds, l),
        connectSeconds: this.#histogram(M.beConnectSeconds, l),
        ttfbSeconds: this.#histogram(M.beTtfbSeconds, l),
        seconds: this.#histogram(M.beSeconds, l),
        current: this.#gauge(M.beCurrent, l),
        max: this.#gauge(M.beMax, l),
        queueCurrent: this.#gauge(M.beQueueCurrent, l),
        queueMax: this.#gauge(M.beQueueMax, l),
      };
      this.#backends.set(backend, cells);
    }
    return cells;
  }

  server(server: ServerView): ServerCells {
    let cells = this.#servers.get(server);
    if (!cells) {
      const l = { backend: server.backend, server: server.name };
      cells = {
        sessions: this.#counter(M.svSessions, l),
        bytesIn: this.#counter(M.svBytesIn, l),
        bytesOut: this.#counter(M.svBytesOut, l),
        responses: this.#byClass(M.svResponses, l),
        connectionErrors: this.#counter(M.svConnectionErrors, l),
        responseErrors: this.#counter(M.svResponseErrors, l),
        ttfbSeconds: this.#histogram(M.svTtfbSeconds, l),
        connectSeconds: this.#histogram(M.svConnectSeconds, l),
        current: this.#gauge(M.svCurrent, l),
        max: this.#gauge(M.svMax, l),
        status: serverStatuses.map((status) => this.#gauge(M.svStatus, { ...l, status })),
        weight: this.#gauge(M.svWeight, l),
        checkSeconds: this.#gauge(M.svCheckSeconds, l),
        downtime: this.#gauge(M.svDowntime, l),
      };
      this.#servers.set(server, cells);
    }
    return cells;
  }

  /** A client connection arrived (http or tcp). */
  connection(frontend: string): void {
    this.frontend(frontend).connections.inc();
  }

  /** An HTTP request was read and is about to be routed: it is in progress until `httpEnded`. */
  httpStarted(ctx: HttpContext): void {
    const fe = this.frontend(ctx.frontend);
    if (++fe.live > fe.peak) fe.peak = fe.live;
    (ctx.state as Marked)[inProgress] = fe;
  }

  /** The response was sent (or the client left): count everything about the request. */
  httpEnded(ctx: HttpContext): void {
    const started = (ctx.state as Marked)[inProgress];
    const fe = started ?? this.frontend(ctx.frontend);
    if (started) fe.live--;
    const status = ctx.status;
    const code = classIndex(status);
    const server = ctx.server;
    const seconds = ctx.timings.total / 1000;
    fe.sessions.inc();
    fe.responses[code]!.inc();
    this.#version(fe, ctx).inc();
    fe.bytesOut.inc(ctx.bytesOut);
    if (ctx.bytesIn) fe.bytesIn.inc(ctx.bytesIn);
    fe.seconds.observe(seconds);
    if (server === undefined && (status === 401 || status === 403 || status === 429)) fe.denied.inc();
    const side = errorSide(ctx);
    if (side !== undefined) fe.errors.inc();
    if (ctx.route) {
      const r = this.route(ctx.route);
      r.sessions.inc();
      r.responses[code]!.inc();
    }
    const backend = ctx.backend;
    if (!backend) return;
    const be = this.backend(backend);
    be.sessions.inc();
    be.responses[code]!.inc();
    be.bytesOut.inc(ctx.bytesOut);
    if (ctx.bytesIn) be.bytesIn.inc(ctx.bytesIn);
    if (ctx.timings.queue > 0) be.queueSeconds.observe(ctx.timings.queue / 1000);
    be.seconds.observe(seconds);
    const ttfb = ctx.timings.ttfb;
    if (ttfb >= 0) be.ttfbSeconds.observe(ttfb / 1000);
    this.#backendErrors(be, ctx.retries, side);
    // Servers a retry gave up on: each failed connection is charged to its own server.
    for (const t of ctx.failedTries) if (chargedTo(t.termination) === 'connect') this.server(t.server).connectionErrors.inc();
    if (!server) return;
    const sv = this.server(server);
    sv.sessions.inc();
    if (serversStatus(ctx, side)) sv.responses[code]!.inc();
    sv.bytesOut.inc(ctx.bytesOut);
    if (ctx.bytesIn) sv.bytesIn.inc(ctx.bytesIn);
    if (ttfb >= 0) sv.ttfbSeconds.observe(ttfb / 1000);
    if (side === 'connect') sv.connectionErrors.inc();
    else if (side === 'server') sv.responseErrors.inc();
  }

  #version(fe: FrontendCells, ctx: HttpContext): BoundCounter {
    let cell = fe.versions.get(ctx.httpVersion);
    if (!cell) fe.versions.set(ctx.httpVersion, (cell = this.#counter(M.feVersions, { frontend: ctx.frontend, version: ctx.httpVersion })));
    return cell;
  }

  /** HTTP: a new pooled connection to `server` took `ms` to come up (requests reusing one have no connect time). */
  httpConnected(backend: BackendView, server: ServerView, ms: number): void {
    this.backend(backend).connectSeconds.observe(ms / 1000);
    this.server(server).connectSeconds.observe(ms / 1000);
  }

  /** The server connection is up: the session is in progress until `tcpEnded`. */
  tcpConnected(ctx: TcpContext): void {
    const fe = this.frontend(ctx.frontend);
    if (++fe.live > fe.peak) fe.peak = fe.live;
  }

  /** Both sides closed: count the session. */
  tcpEnded(ctx: TcpContext): void {
    const fe = this.frontend(ctx.frontend);
    const connected = ctx.connectTime >= 0;
    if (connected) fe.live--;
    const seconds = ctx.duration / 1000;
    fe.sessions.inc();
    fe.bytesIn.inc(ctx.bytesIn);
    fe.bytesOut.inc(ctx.bytesOut);
    fe.seconds.observe(seconds);
    const side = errorSide(ctx);
    if (side !== undefined) fe.errors.inc();
    if (ctx.route) this.route(ctx.route).sessions.inc();
    const backend = ctx.backend;
    if (!backend) return;
    const be = this.backend(backend);
    be.sessions.inc();
    be.bytesIn.inc(ctx.bytesIn);
    be.bytesOut.inc(ctx.bytesOut);
    if (ctx.queueTime > 0) be.queueSeconds.observe(ctx.queueTime / 1000);
    be.seconds.observe(seconds);
    if (connected) be.connectSeconds.observe(ctx.connectTime / 1000);
    this.#backendErrors(be, ctx.retries, side);
    for (const t of ctx.failedTries) if (chargedTo(t.termination) === 'connect') this.server(t.server).connectionErrors.inc();
    const server = ctx.server;
    if (!server) return;
    const sv = this.server(server);
    sv.sessions.inc();
    sv.bytesIn.inc(ctx.bytesIn);
    sv.bytesOut.inc(ctx.bytesOut);
    if (connected) sv.connectSeconds.observe(ctx.connectTime / 1000);
    if (side === 'connect') sv.connectionErrors.inc();
    else if (side === 'server') sv.responseErrors.inc();
  }

  #backendErrors(be: BackendCells, retries: number, side: ErrorSide | undefined): void {
    // Every retry follows a failed connection.
    if (retries) {
      be.retries.inc(retries);
      be.connectionErrors.inc(retries);
    }
    if (side === 'connect') be.connectionErrors.inc();
    else if (side === 'server') be.responseErrors.inc();
  }

  /** `app.collect`: the gauges that mirror live state. */
  collect(backends: Iterable<BackendView>, now: number): void {
    for (const fe of this.#frontends.values()) {
      fe.current.set(fe.live);
      fe.max.set(fe.peak);
    }
    for (const b of backends) {
      const be = this.backend(b);
      be.current.set(b.active);
      be.max.set(b.peakActive);
      be.queueCurrent.set(b.queued);
      be.queueMax.set(b.peakQueued);
      for (const s of b.servers) {
        const sv = this.server(s);
        sv.current.set(s.active);
        sv.max.set(s.peakActive);
        const status = serverStatus(s);
        serverStatuses.forEach((st, i) => sv.status[i]!.set(st === status ? 1 : 0));
        sv.weight.set(s.weight);
        if (s.health.lastDuration !== undefined) sv.checkSeconds.set(s.health.lastDuration / 1000);
        sv.downtime.set(downtimeMs(s, now) / 1000);
      }
    }
  }
}
