// A backend: its servers, their state, and the balancing algorithm that picks among
// them. Built once per generation from config; the request path only calls `pick`.
import { Pool } from 'undici';
import type { BackendConfig, ServerConfig } from '../config/schema.ts';
import { defaultTimeouts } from '../config/schema.ts';
import type { Balancer, BackendView, Mode, PickContext, ServerState, ServerView } from '../types.ts';
import type { BindAddress } from '../config/units.ts';
import { parseAddress } from '../config/units.ts';

export interface BackendTimeouts {
  connect: number;
  server: number;
  server_body: number;
  server_keepalive: number;
}

export class UpstreamServer implements ServerView {
  readonly id: string;
  readonly address: BindAddress;
  readonly weight: number;
  readonly maxconn: number;
  readonly backup: boolean;
  state: ServerState;
  up = true;
  active = 0;
  /** Requests or sessions sent here in this generation. */
  total = 0;
  #pool: Pool | undefined;

  constructor(
    readonly backend: string,
    config: ServerConfig,
    private readonly timeouts: BackendTimeouts,
    /** Called when the server may have become eligible or ineligible. */
    private readonly changed: () => void,
  ) {
    this.id = `${backend}/${config.name}`;
    this.address = parseAddress(config.address)!;
    this.weight = config.weight;
    this.maxconn = config.maxconn;
    this.backup = config.backup;
    this.state = config.state;
  }

  get name(): string {
    return this.id.slice(this.backend.length + 1);
  }

  get usable(): boolean {
    return this.up && this.state === 'ready' && this.weight > 0 && (this.maxconn === 0 || this.active < this.maxconn);
  }

  /** A request or connection starts on this server. */
  acquire(): void {
    this.total++;
    if (++this.active === this.maxconn) this.changed();
  }

  /** A request or connection on this server is done. */
  release(): void {
    if (this.active-- === this.maxconn) this.changed();
  }

  /** The keep-alive connection pool to this server (HTTP mode), made on first use. */
  get pool(): Pool {
    if (!this.#pool) {
      const host = this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host;
      this.#pool = new Pool(`http://${host}:${this.address.port}`, {
        connections: this.maxconn || null,
        pipelining: 1,
        keepAliveTimeout: this.timeouts.server_keepalive,
        keepAliveMaxTimeout: this.timeouts.server_keepalive,
        headersTimeout: this.timeouts.server,
        bodyTimeout: this.timeouts.server_body,
        connect: { timeout: this.timeouts.connect },
        // Our own limits apply on the client side; the server's answer is passed as it comes.
        maxResponseSize: -1,
      });
    }
    return this.#pool;
  }

  async close(): Promise<void> {
    await this.#pool?.close().catch(() => undefined);
  }

  destroy(): void {
    this.#pool?.destroy().catch(() => undefined);
  }
}

export class Backend implements BackendView {
  readonly servers: UpstreamServer[];
  readonly balance: string;
  readonly retries: number;
  readonly timeouts: BackendTimeouts;
  balancer!: Balancer;
  #eligible: UpstreamServer[] = [];
  #stale = true;

  constructor(readonly name: string, readonly mode: Mode, config: BackendConfig, timeouts: BackendTimeouts) {
    this.balance = config.balance;
    this.retries = config.retries;
    this.timeouts = timeouts;
    const changed = () => void (this.#stale = true);
    this.servers = config.servers.map((s) => new UpstreamServer(name, s, timeouts, changed));
  }

  /** The servers a new request may go to: usable primaries, or usable backups when there are none. Recomputed only after a change. */
  get eligible(): readonly UpstreamServer[] {
    if (this.#stale) {
      this.#eligible = eligibleOf(this.servers);
      this.#stale = false;
    }
    return this.#eligible;
  }

  /** Picks a server with the backend's algorithm among the eligible ones. */
  pick(ctx: PickContext): UpstreamServer | undefined {
    const eligible = this.eligible;
    return eligible.length ? (this.balancer.pick(ctx, eligible) as UpstreamServer | undefined) : undefined;
  }

  setServerState(server: UpstreamServer, patch: { state?: ServerState; up?: boolean }): void {
    if (patch.state !== undefined) server.state = patch.state;
    if (patch.up !== undefined) server.up = patch.up;
    this.#stale = true;
    this.balancer.onServerState?.(server);
  }

  /**
   * What one request or connection on `server` came to, for passive health checks
   * (outlier detection): consecutive failures eject a server for a while.
   */
  reportOutcome(_server: UpstreamServer, _outcome: Outcome): void {}

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => s.close()));
  }
}

/** `connect-error`: the server could not be reached; `server-error`: it answered 5xx or broke the exchange. */
export type Outcome = 'ok' | 'connect-error' | 'server-error';

/** Usable primaries, or usable backups when no primary is usable. */
export function eligibleOf<S extends ServerView>(servers: readonly S[]): S[] {
  const usable = servers.filter((s) => s.usable);
  const primaries = usable.filter((s) => !s.backup);
  return primaries.length ? primaries : usable;
}

export function resolveBackendTimeouts(...layers: (Partial<BackendTimeouts> | undefined)[]): BackendTimeouts {
  const out: BackendTimeouts = {
    connect: defaultTimeouts.connect,
    server: defaultTimeouts.server,
    server_body: defaultTimeouts.server_body,
    server_keepalive: defaultTimeouts.server_keepalive,
  };
  for (const layer of layers) for (const [k, v] of Object.entries(layer ?? {})) if (v !== undefined && k in out) out[k as keyof BackendTimeouts] = v;
  return out;
}
