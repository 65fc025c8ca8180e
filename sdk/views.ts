// What a plugin may see of generations, frontends, backends and servers, and the
// shapes of the balancers and protocol detectors it may register. Read-only views; the
// kernel owns the state behind them.
import type { HttpContext, TcpContext } from './context.ts';

export type Mode = 'http' | 'tcp';
export type ServerState = 'ready' | 'drain' | 'maint';

export interface GenerationInfo {
  /** Increases by one with every generation a process builds. */
  readonly id: number;
  /** Where the configuration came from. */
  readonly configFile: string;
  readonly frontends: readonly string[];
  readonly backends: readonly string[];
}

export interface HostPort {
  readonly host: string;
  readonly port: number;
}

export interface ServerView {
  readonly name: string;
  /** `backend/server`, unique in a generation: use it as a map key. */
  readonly id: string;
  readonly backend: string;
  readonly address: HostPort;
  /** Configured weight (0 takes no traffic). */
  readonly weight: number;
  readonly maxconn: number;
  readonly backup: boolean;
  readonly state: ServerState;
  /** Requests (http) or connections (tcp) in flight on this server now. */
  readonly active: number;
  /** The most in flight here at once, in this generation. */
  readonly peakActive: number;
  /** When (ms since the epoch) `up` or `state` last changed, or the generation was built. */
  readonly changedAt: number;
  /** False while a health check or an operator says the server is down. */
  readonly up: boolean;
  /** True when the server may take a new request or connection now. */
  readonly usable: boolean;
  /** Health checks' view of it: last result, its duration and error, when it last changed. */
  readonly health: ServerHealth;
}

/** What health checking knows of one server, for the stats page. Read-only: the kernel keeps it. */
export interface ServerHealth {
  /** Active checks run on this server (the backend has `health`, and the server not `check: false`). */
  readonly checked: boolean;
  /** What the active checks say now; true while they do not run. */
  readonly passing: boolean;
  readonly checks: number;
  readonly failedChecks: number;
  /** Checks in a row with the same result as the last one. */
  readonly streak: number;
  readonly lastResult: 'passed' | 'failed' | undefined;
  /** How long the last check took, in ms. */
  readonly lastDuration: number | undefined;
  /** Why the last check failed. */
  readonly lastError: string | undefined;
  /** When (ms since the epoch) the last check ended. */
  readonly lastCheckAt: number | undefined;
  /** When (ms since the epoch) health last took the server out or brought it back. */
  readonly lastChange: number | undefined;
  /** Failed requests in a row (passive); a good one resets it. */
  readonly consecutiveErrors: number;
  readonly ejections: number;
  /** Until when (ms since the epoch) outlier detection keeps the server out; undefined when it does not. */
  readonly ejectedUntil: number | undefined;
  /** ms the server was down (checks or ejection) in this generation, periods that ended; add the time since `downSince` for the whole. */
  readonly downtime: number;
  /** When (ms since the epoch) health took the server out, while it is out. */
  readonly downSince: number | undefined;
}

/** A frontend as plugins see it (`api.frontends()`). */
export interface FrontendView {
  readonly name: string;
  readonly mode: Mode;
  /** Where it listens; none when it only serves connections a tcp route hands it. Port 0 is as configured. */
  readonly binds: readonly HostPort[];
  /** Where requests no route takes go. */
  readonly defaultBackend: string | undefined;
  /** Connections at once, per worker; 0: no limit. */
  readonly maxconn: number;
}

export interface BackendView {
  readonly name: string;
  readonly mode: Mode;
  readonly balance: string;
  readonly servers: readonly ServerView[];
  /** Requests or connections in flight on its servers now, and the most at once in this generation. */
  readonly active: number;
  readonly peakActive: number;
  /** Requests waiting for a server slot now (every server at its maxconn), and the most at once. */
  readonly queued: number;
  readonly peakQueued: number;
}

/** What a balancing algorithm sees of the request or connection it places. */
export type PickContext = HttpContext | TcpContext;

/**
 * One balancing algorithm: HAProxy's `lb_*.c` ops table, as an object. The kernel
 * decides which servers are eligible (up, ready, weight > 0, below maxconn; backups
 * only when no other server is), once per change rather than per pick; an algorithm
 * only chooses among them.
 */
export interface Balancer {
  /** Choose one of `eligible` (never empty, in config order), or undefined to refuse. Called once per request (http) or connection (tcp). */
  pick(ctx: PickContext, eligible: readonly ServerView[]): ServerView | undefined;
  /** A server's state, health or weight changed. */
  onServerState?(server: ServerView): void;
  /** The request or connection placed on `server` is finished. */
  release?(server: ServerView, ctx: PickContext): void;
}

/** What a balancing algorithm's `create` is told besides its options (the backend's `balance_options`). */
export interface BalancerInit {
  readonly backend: string;
  /** Every server of the backend, eligible or not (to build rings and tables once). */
  readonly servers: readonly ServerView[];
  /** The argument in `balance: name(argument)`, e.g. the header of `hdr(x-user)`, as its schema gave it. */
  readonly argument?: string;
  /** Injected so tests are deterministic: a number in [0, 1). */
  readonly random: () => number;
  /** Injected clock in milliseconds. */
  readonly now: () => number;
}

/** What a detector learned from a connection's first bytes. */
export interface Detected {
  /** 'tls', 'http', 'h2c', 'ssh', or a plugin's own name. */
  readonly protocol: string;
  /** TLS ClientHello: server name (lower case) and offered ALPN protocols, in the client's order. */
  readonly sni?: string;
  readonly alpn?: readonly string[];
  /**
   * The protocol's version in its own spelling. TLS: the highest version offered ('TLSv1.3'
   * from supported_versions, else from client_version, as Node's `getProtocol()` names them);
   * HTTP: 'HTTP/1.0' or 'HTTP/1.1'; SSH: 'SSH-2.0' or 'SSH-1.99'.
   */
  readonly version?: string;
  /** HTTP/1.x: method, target, version, and Host (lower case, without port) when seen in the head. */
  readonly method?: string;
  readonly path?: string;
  readonly host?: string;
  /** SSH: the identification string after 'SSH-2.0-' (e.g. 'OpenSSH_9.6'). */
  readonly software?: string;
}

/**
 * Looks at the bytes a client sent first (everything read so far, from byte 0). Returns
 * what it recognised, `'more'` when the bytes so far are a valid prefix of this protocol
 * but not enough to decide, or undefined when they are not this protocol. Pure and
 * never throws, whatever the bytes.
 */
export type Detector = (head: Uint8Array) => Detected | 'more' | undefined;
