// Every extension point of the kernel, in one place: the contract between plugins and
// the kernel. A plugin meets a request or a connection only here. Each hook names its
// tapable class, its arguments and what a tap may do: observe, mutate, or bail with a
// result that stops the chain. The kernel creates them (core/hooks.ts).
import type { AsyncSeriesBailHook, AsyncSeriesHook, SyncBailHook, SyncHook } from 'tapable';
import type { AdminRequest } from './admin.ts';
import type { HttpAnswer, HttpContext, TcpContext, UpstreamResponse } from './context.ts';
import type { RouteView } from './routes.ts';
import type { BackendView, GenerationInfo, ServerView } from './views.ts';

/** Order taps with named stages, never magic numbers. Lower runs first. */
export const Stage = Object.freeze({
  FIRST: -1000,
  /** Access control and authentication: decide before anything is spent on a request. */
  AUTH: -200,
  /** Rate limits, quotas. */
  LIMIT: -100,
  /** Rewrites and routing decisions. */
  ROUTE: 0,
  /** Caches answer after auth and routing. */
  CACHE: 100,
  /** Observers (stats, logs): see everything the other taps decided. */
  OBSERVE: 1000,
});
export type StageName = keyof typeof Stage;

/** A value now, or a promise of it. */
export type Eventually<T> = T | Promise<T>;

type TapAt = string | { name: string; stage?: number; before?: string };
/**
 * An async hook on a request's path. A `tapPromise` tap may return its result itself
 * instead of a promise when it has it at once (a remembered token, a local counter): the
 * kernel then goes on in the same turn, with no promise to wait for. `async` functions
 * always return promises; write a plain function that returns a promise only when it must wait.
 */
export type EagerBailHook<A extends unknown[], R> = AsyncSeriesBailHook<A, R> & { tapPromise(options: TapAt, fn: (...args: A) => Eventually<R>): void };
/** See `EagerBailHook`: the same for hooks whose taps return nothing. */
export type EagerSeriesHook<A extends unknown[]> = AsyncSeriesHook<A> & { tapPromise(options: TapAt, fn: (...args: A) => Eventually<void>): void };

/** The gateway's own life: generations, messages, errors, the stats listener. */
export interface AppHooks {
  /** A generation is being built, after every plugin's setup; await here to warm caches. May throw to fail the load. */
  readonly boot: AsyncSeriesHook<[GenerationInfo]>;
  /** The generation's listeners are bound and accepting. Observe. */
  readonly listening: SyncHook<[GenerationInfo]>;
  /** The generation is the current one: new connections are served by it. Observe. */
  readonly ready: SyncHook<[GenerationInfo]>;
  /** The generation stops taking new work and finishes what it has (reload, stop). Observe. */
  readonly drain: SyncHook<[GenerationInfo]>;
  /** The generation is gone: release timers and sockets here (dispose runs after). Observe. */
  readonly close: AsyncSeriesHook<[GenerationInfo]>;
  /** A contained error: a plugin threw, a request failed in the kernel. Observe. */
  readonly error: SyncHook<[ContainedError]>;
  /**
   * A plugin's message to every worker (`api.broadcast(topic, data)`), this one included:
   * bail with an answer for your topic (a purge's count), or nothing for other topics.
   */
  readonly message: AsyncSeriesBailHook<[string, unknown], unknown>;
  /** A new connection to a server of an HTTP backend is up after `ms` (TLS included); requests reuse pooled ones. Observe: connect latency. */
  readonly upstreamConnected: SyncHook<[ServerView, number]>;
  /** This process's metrics are about to be read (a stats request, a worker's exit): set gauges from live state here. Observe. */
  readonly collect: SyncHook<[]>;
  /** A request to the stats listener (`stats:` section) outside the kernel's `/api/`: bail with an answer (a stats page, metrics, a purge). */
  readonly admin: AsyncSeriesBailHook<[AdminRequest], HttpAnswer | void>;
}

/** An HTTP frontend's requests, from a connection's arrival to the response sent. */
export interface HttpHooks {
  /** A client connection arrives. Bail with `false` to close it at once. */
  readonly accept: SyncBailHook<[ConnectionInfo], false | void>;
  /**
   * A request's head has been read, before routing (frontend chain only): authenticate
   * when routes depend on who is asking (claims), or answer at once. Bail with an answer
   * to skip everything after.
   */
  readonly received: EagerBailHook<[HttpContext], HttpAnswer | void>;
  /**
   * A request's head has been read: choose its route. Bail with one of the frontend's
   * routes (its plugin chain then runs) or a backend name; no answer is the frontend's
   * fallback (`default_backend`, frontend plugins). Runs on the frontend's chain only.
   */
  readonly route: SyncBailHook<[HttpContext], RouteView | string | void>;
  /** The route is chosen. Mutate the request, or bail with an answer (auth, cache hit, redirect): later taps and the upstream are skipped. */
  readonly request: EagerBailHook<[HttpContext], HttpAnswer | void>;
  /** Choose the server in the chosen backend. Bail with one of `backend.servers` to override the backend's algorithm. */
  readonly pickServer: SyncBailHook<[HttpContext, BackendView], ServerView | void>;
  /** The request to the server is about to be sent. Mutate `ctx.upstream` (path, headers). */
  readonly upstreamRequest: EagerSeriesHook<[HttpContext]>;
  /** The server's response head has arrived. Mutate status and headers, or observe the body with `res.onBody`. An upgrade's 101 comes here too: headers only, no body, status kept. */
  readonly upstreamResponse: EagerSeriesHook<[HttpContext, UpstreamResponse]>;
  /** The gateway is about to answer an error of its own (`status`: 502, 503, 504...): bail with another answer (a custom error page, a stale copy from a cache). */
  readonly errorResponse: EagerBailHook<[HttpContext, number], HttpAnswer | void>;
  /** The response has been sent (or the client went away); for an upgrade (status 101), the tunnel has closed, `bytesIn`/`bytesOut` final. Observe: stats, logs. */
  readonly responseSent: SyncHook<[HttpContext]>;
  /** The request failed: plugin error, server error, timeout, client abort. Observe. */
  readonly requestError: SyncHook<[HttpContext, Error]>;
}

/** A tcp frontend's connections. */
export interface TcpHooks {
  /** A client connection arrives. Bail with `false` to close it at once. */
  readonly accept: SyncBailHook<[TcpContext], false | void>;
  /** Choose the route (addresses, SNI, inspected protocol...) or a backend name; no answer means `default_backend`. Frontend chain only. */
  readonly route: SyncBailHook<[TcpContext], RouteView | string | void>;
  /** Choose the server. Bail with one of `backend.servers` to override the backend's algorithm. */
  readonly pickServer: SyncBailHook<[TcpContext, BackendView], ServerView | void>;
  /** The server connection is up and bytes start to flow. Observe. */
  readonly connected: SyncHook<[TcpContext]>;
  /** Both sides are closed; byte counts and durations are final. Observe. */
  readonly closed: SyncHook<[TcpContext]>;
}

export interface Hooks {
  app: AppHooks;
  http: HttpHooks;
  tcp: TcpHooks;
}

/** A connection as http.accept sees it; the addresses are read from the socket when asked (read them in the tap). */
export interface ConnectionInfo {
  readonly frontend: string;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly localAddress: string;
  readonly localPort: number;
}

export interface ContainedError {
  readonly plugin?: string;
  readonly hook?: string;
  readonly frontend?: string;
  readonly error: unknown;
}
