// A backend: its servers, their state, and the balancing algorithm that picks among
// them. Built once per generation from config; the request path only calls `pick`.
import { performance } from 'node:perf_hooks';
import type { BackendConfig, ServerConfig } from '../../sdk/config.ts';
import { defaultTimeouts } from '../../sdk/config.ts';
import type { Balancer, BackendView, Mode, PickContext, ServerState, ServerView } from '../../sdk/views.ts';
import type { BindAddress } from '../../sdk/units.ts';
import { parseAddress } from '../../sdk/units.ts';
import { BackendHealth, newServerHealth } from './health.ts';
import { type ServerHealth } from '../../sdk/views.ts';
import type { ServerTls } from '../tls/origination.ts';
import { H2Pool } from './h2-pool.ts';
import { H1Pool, type UpstreamPool } from './h1-pool.ts';

export interface BackendTimeouts {
  /** How long a request may wait for a free server slot (maxconn) before a 503. */
  queue: number;
  connect: number;
  server: number;
  server_body: number;
  server_keepalive: number;
  /** Idle time of an upgraded connection (WebSocket...), both ways. */
  tunnel: number;
}

export class UpstreamServer implements ServerView {
  readonly id: string;
  readonly address: BindAddress;
  /** The configured weight (or set at run time); `weight` is lower while the server ramps up after coming back (slowstart). */
  configWeight: number;
  /** ms over which the weight ramps up after the server comes back; 0: at once. */
  readonly slowstart: number;
  readonly maxconn: number;
  readonly backup: boolean;
  state: ServerState;
  up = true;
  active = 0;
  /** The most requests or connections in flight here at once, in this generation. */
  peakActive = 0;
  /** When (ms since the epoch) `up` or `state` last changed, or the server was built. */
  changedAt = Date.now();
  /** Requests or sessions sent here in this generation. */
  total = 0;
  /** Health checks' results and counters; `core/upstream/health.ts` keeps them. */
  readonly health: ServerHealth = newServerHealth();
  #pool: H1Pool | undefined;
  /** HTTP/2 to this server instead (backend `protocol: h2` or `grpc`), a stream per request. */
  http2 = false;
  #h2Pool: H2Pool | undefined;
  #rampSince = -Infinity;

  constructor(
    readonly backend: string,
    config: ServerConfig,
    private readonly timeouts: BackendTimeouts,
    /** Called when the server may have become eligible (`freed`: a slot under maxconn opened) or ineligible. */
    private readonly changed: (freed: boolean) => void,
    /** TLS to this server (`ssl: true`); none for plain TCP. */
    readonly tls: ServerTls | undefined,
    /** In flight on every server of the backend, and its peak: shared by the backend's servers. */
    private readonly load: BackendLoad = { active: 0, peak: 0 },
  ) {
    this.id = `${backend}/${config.name}`;
    this.address = parseAddress(config.address)!;
    this.configWeight = config.weight;
    this.slowstart = config.slowstart;
    this.maxconn = config.maxconn;
    this.backup = config.backup;
    this.state = config.state;
  }

  get name(): string {
    return this.id.slice(this.backend.length + 1);
  }

  get weight(): number {
    if (this.slowstart === 0) return this.configWeight;
    const ramp = (performance.now() - this.#rampSince) / this.slowstart;
    return ramp >= 1 || this.configWeight === 0 ? this.configWeight : Math.max(1, Math.ceil(this.configWeight * ramp));
  }

  /** The server came back (up again, or out of maintenance): its weight ramps up from here. */
  startRamp(): void {
    this.#rampSince = performance.now();
  }

  /** True while the weight is still ramping up. */
  get ramping(): boolean {
    return this.slowstart > 0 && performance.now() - this.#rampSince < this.slowstart;
  }

  get usable(): boolean {
    return this.up && this.state === 'ready' && this.weight > 0 && (this.maxconn === 0 || this.active < this.maxconn);
  }

  /** A request or connection starts on this server. */
  acquire(): void {
    this.total++;
    if (++this.load.active > this.load.peak) this.load.peak = this.load.active;
    if (++this.active > this.peakActive) this.peakActive = this.active;
    if (this.active === this.maxconn) this.changed(false);
  }

  /** A request or connection on this server is done. */
  release(): void {
    this.load.active--;
    if (this.active-- === this.maxconn) this.changed(true);
  }

  /** A new pooled connection to this server is up, after `ms` (the generation points this at `app.upstreamConnected`). */
  onConnect: ((server: UpstreamServer, ms: number) => void) | undefined = undefined;

  /** The keep-alive connection pool to this server (HTTP mode), made on first use. */
  get pool(): UpstreamPool {
    if (this.http2)
      return (this.#h2Pool ??= new H2Pool({ address: this.address, tls: this.tls, timeouts: this.timeouts, onConnect: (ms) => this.onConnect?.(this, ms) }));
    // Each new connection is timed (TLS handshake included) for whoever watches: stats' connect latency.
    this.#pool ??= new H1Pool(this.address, this.timeouts, this.tls, (ms) => this.onConnect?.(this, ms));
    return this.#pool;
  }

  async close(): Promise<void> {
    await this.#pool?.close();
    await this.#h2Pool?.close();
  }

  destroy(): void {
    this.#pool?.destroy();
    void this.#h2Pool?.destroy();
  }
}

export class Backend implements BackendView {
  readonly servers: UpstreamServer[];
  readonly balance: string;
  readonly retries: number;
  readonly timeouts: BackendTimeouts;
  balancer!: Balancer;
  /** Active checks and outlier detection: they set servers' `up`. */
  readonly health: BackendHealth;
  #eligible: UpstreamServer[] = [];
  readonly #load: BackendLoad = { active: 0, peak: 0 };
  #peakQueued = 0;
  #stale = true;
  #ramping = false;
  /** Requests waiting for a server slot, oldest first (HAProxy's backend queue). */
  readonly #queue: ((slot: boolean) => void)[] = [];

  constructor(
    readonly name: string,
    readonly mode: Mode,
    config: BackendConfig,
    timeouts: BackendTimeouts,
    serverTls: readonly (ServerTls | undefined)[] = [],
  ) {
    this.balance = config.balance;
    this.retries = config.retries;
    this.timeouts = timeouts;
    const changed = (freed: boolean) => {
      this.#stale = true;
      if (freed) this.#queue.shift()?.(true);
    };
    this.servers = config.servers.map((s, i) => new UpstreamServer(name, s, timeouts, changed, serverTls[i], this.#load));
    if (config.protocol !== 'h1') for (const s of this.servers) s.http2 = true;
    this.health = new BackendHealth(this, config);
  }

  /**
   * The servers a new request may go to, in config order: usable primaries, or usable
   * backups when no primary is in service. The same array object until something
   * changes (algorithms may cache by identity); a new one on every call while a
   * server's weight ramps up (slowstart), since weights then change with time.
   */
  get eligible(): readonly UpstreamServer[] {
    if (this.#stale || this.#ramping) {
      this.#eligible = eligibleOf(this.servers);
      this.#ramping = this.servers.some((s) => s.ramping);
      this.#stale = false;
    }
    return this.#eligible;
  }

  /** Picks a server with the backend's algorithm among the eligible ones. */
  pick(ctx: PickContext): UpstreamServer | undefined {
    const eligible = this.eligible;
    return eligible.length ? (this.balancer.pick(ctx, eligible) as UpstreamServer | undefined) : undefined;
  }

  /** `picked`, unless a retry already tried it: then the algorithm's pick among servers not tried yet (redispatch), if any. */
  untried(ctx: PickContext, picked: UpstreamServer | undefined, tried: ReadonlySet<UpstreamServer> | undefined): UpstreamServer | undefined {
    if (!tried || !picked || !tried.has(picked)) return picked;
    const rest = this.eligible.filter((s) => !tried.has(s));
    return rest.length ? ((this.balancer.pick(ctx, rest) as UpstreamServer | undefined) ?? picked) : picked;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.#queue.length;
  }

  /** The most requests that waited at once, in this generation. */
  get peakQueued(): number {
    return this.#peakQueued;
  }

  /** Requests or connections in flight on the backend's servers now. */
  get active(): number {
    return this.#load.active;
  }

  /** The most in flight at once on the backend's servers, in this generation. */
  get peakActive(): number {
    return this.#load.peak;
  }

  /** True when servers could take work but every one is at its maxconn: a request should queue, not fail. */
  get saturated(): boolean {
    return this.eligible.length === 0 && this.servers.some((s) => s.maxconn > 0 && s.up && s.state === 'ready' && s.weight > 0);
  }

  /** Waits in line until a server frees a slot (true) or `timeouts.queue` passes (false). */
  waitForSlot(atHead = false): Promise<boolean> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const i = this.#queue.indexOf(wake);
        if (i !== -1) this.#queue.splice(i, 1);
        resolve(false);
      }, this.timeouts.queue);
      const wake = (slot: boolean) => {
        clearTimeout(timer);
        resolve(slot);
      };
      if (atHead) this.#queue.unshift(wake);
      else this.#queue.push(wake);
      if (this.#queue.length > this.#peakQueued) this.#peakQueued = this.#queue.length;
    });
  }

  /** A slot given to a request that no longer wants it (its client left while it waited) goes to the next in line. */
  passSlot(): void {
    this.#queue.shift()?.(true);
  }

  setServerState(server: UpstreamServer, patch: { state?: ServerState; up?: boolean }): void {
    const wasServing = server.up && server.state === 'ready';
    const wasUp = server.up;
    const wasState = server.state;
    if (patch.state !== undefined) server.state = patch.state;
    if (patch.up !== undefined) server.up = patch.up;
    if (server.up !== wasUp || server.state !== wasState) server.changedAt = Date.now();
    const serving = server.up && server.state === 'ready';
    if (serving && !wasServing) server.startRamp();
    this.#stale = true;
    this.balancer.onServerState?.(server);
    // A server back in service may take queued requests.
    if (serving && !wasServing) for (let n = server.maxconn || this.#queue.length; n > 0 && this.#queue.length; n--) this.#queue.shift()!(true);
  }

  /** A run-time weight (the admin API); 0 takes no new traffic, as a drain does. */
  setServerWeight(server: UpstreamServer, weight: number): void {
    const from = server.configWeight;
    server.configWeight = weight;
    if (from === 0 && weight > 0) server.startRamp();
    this.#stale = true;
    this.balancer.onServerState?.(server);
  }

  /**
   * What one request or connection on `server` came to, for passive health checks
   * (outlier detection): consecutive failures eject a server for a while.
   */
  reportOutcome(server: UpstreamServer, outcome: Outcome): void {
    this.health.report(server, outcome);
  }

  async close(): Promise<void> {
    this.health.stop();
    await Promise.all(this.servers.map((s) => s.close()));
  }
}

/** Requests or connections in flight on a backend's servers, and the most at once. */
interface BackendLoad {
  active: number;
  peak: number;
}

/** `connect-error`: the server could not be reached; `server-error`: it answered 5xx or broke the exchange. */
export type Outcome = 'ok' | 'connect-error' | 'server-error';

/**
 * Usable primaries; backups only when no primary is in service at all (a primary that
 * is merely at its maxconn keeps the backups out: requests queue, as in HAProxy).
 */
export function eligibleOf<S extends ServerView>(servers: readonly S[]): S[] {
  const inService = (s: S) => s.up && s.state === 'ready' && s.weight > 0;
  const primaries = servers.some((s) => !s.backup && inService(s));
  return servers.filter((s) => s.usable && s.backup !== primaries);
}

export function resolveBackendTimeouts(...layers: (Partial<BackendTimeouts> | undefined)[]): BackendTimeouts {
  const out: BackendTimeouts = {
    queue: defaultTimeouts.queue,
    connect: defaultTimeouts.connect,
    server: defaultTimeouts.server,
    server_body: defaultTimeouts.server_body,
    server_keepalive: defaultTimeouts.server_keepalive,
    tunnel: defaultTimeouts.tunnel,
  };
  for (const layer of layers) for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined && k in out) out[k as keyof BackendTimeouts] = v;
  return out;
}
