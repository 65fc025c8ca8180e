// The public surface of tapgate: what a plugin or config author imports. Every type and
// value here is the SDK's own (sdk/*.ts): the kernel implements them and is free to change
// behind them. Nothing here imports the kernel.
import type { z } from 'zod';
import type { Hooks } from './hooks.ts';
import type { BackendView, FrontendView, GenerationInfo, Mode } from './views.ts';
import type { RouteView } from './routes.ts';
import type { GatewayConfigInput } from './config.ts';
import type { Metrics } from './metrics.ts';
import type { FetchRequest, FetchResponse } from './fetch.ts';
import type { PluginCommand } from './commands.ts';
import type { AnyExtension } from './extensions.ts';

export { z } from 'zod';
/** Schemas plugin options share (durations, sizes, header names and values, address blocks, regexes), and helpers for what they give. */
export { RegexSource, Duration, Size, HeaderName, HeaderValue, HeaderMap, Cidr, appendHeader, parseCidr, addressMatcher } from './options.ts';
export type { CidrBlock } from './options.ts';
/** `api.fetch`: what a request says, where it goes, what comes back, why it failed. */
export * from './fetch.ts';
export { hopByHop } from './http.ts';
export { Stage } from './hooks.ts';
/** Durations and sizes as configs write them: `parseDuration('5s')` is 5000, `parseSize('64k')` is 65536. */
export { parseDuration, parseSize } from './units.ts';
export type { StageName, Hooks, AppHooks, HttpHooks, TcpHooks, ConnectionInfo, ContainedError, EagerBailHook, EagerSeriesHook, Eventually } from './hooks.ts';
export type {
  HttpContext,
  TcpContext,
  HttpHeaders,
  HttpAnswer,
  UpstreamRequest,
  UpstreamResponse,
  BodyObserver,
  TlsInfo,
  ClientCertificate,
  FailedTry,
  Timings,
} from './context.ts';
export type { MatchContext, MatchTest, RouteView, Condition, ConditionTrace } from './routes.ts';
export type {
  Balancer,
  BalancerInit,
  BackendView,
  FrontendView,
  ServerView,
  ServerState,
  ServerHealth,
  PickContext,
  GenerationInfo,
  Mode,
  HostPort,
  Detected,
  Detector,
} from './views.ts';
export type {
  Metrics,
  Counter,
  Gauge,
  Histogram,
  BoundCounter,
  BoundGauge,
  BoundHistogram,
  GaugeMerge,
  MetricSample,
  ScalarValue,
  HistogramValue,
  Labels,
} from './metrics.ts';
/** Metrics as data: merge several snapshots, render Prometheus text; `latencyBuckets` in seconds. */
export { mergeSnapshots, renderPrometheus, latencyBuckets } from './metrics.ts';
/** How a request or session ended, as the access log's `termination` says it: HAProxy-style two letters (who, in which phase). */
export { httpTermination, tcpTermination, chargedTo } from './termination.ts';
export type { Who, Phase } from './termination.ts';
export type { AdminRequest, GatewayStatus, WorkerInfo, WorkerDeaths, ServerChange } from './admin.ts';
export type { GatewayConfigInput } from './config.ts';
export type { PluginCommand, CommandIo, CommandOutput, StatsListener } from './commands.ts';

/** `api.take`'s budget: `cost` units (default 1) of `limit` per `window` ms. */
export interface TakeOptions {
  /** Units this request costs (default 1). */
  cost?: number;
  limit: number;
  /** Window length in ms. */
  window: number;
}

export interface TakeResult {
  allowed: boolean;
  /**
   * Units left in the current window after this take (0 when refused). With several
   * workers, an estimate between asks to the master: what it had left when it last
   * leased this worker units, plus those this worker has not spent (README, Rate limiting).
   */
  remaining: number;
  /** ms until `cost` fits again if nothing more is counted, never sooner (0 when allowed). */
  retryAfter: number;
  /** ms until the current fixed window ends, or later if the next `cost` would not fit by then (RateLimit's `t`). */
  reset: number;
}
/** Balancing algorithms, route matchers, protocol detectors: one shape, `{ name, options, create }`. */
export * from './extensions.ts';

/** Where a plugin instance applies: every frontend, one, or one route of one. */
export type PluginScope =
  { kind: 'gateway' } | { kind: 'frontend'; frontend: string; mode: Mode } | { kind: 'route'; frontend: string; route: string; mode: Mode };

export interface Logger {
  debug(obj: object | string, msg?: string): void;
  info(obj: object | string, msg?: string): void;
  warn(obj: object | string, msg?: string): void;
  error(obj: object | string, msg?: string): void;
}

/** What `setup` receives: one per plugin instance, per generation. */
export interface PluginApi {
  /** The plugin's name; taps are named after it, so errors and timings say who. */
  readonly name: string;
  readonly scope: PluginScope;
  /** Tap these. Taps made here apply to the plugin's scope only. */
  readonly hooks: Hooks;
  readonly generation: GenerationInfo;
  /** The configuration file's folder: resolve paths written in options (key files, lists) against it. */
  readonly dir: string;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The generation's frontends: mode, binds, default backend; available once the generation is built (inside hooks, or in `app.boot`). */
  frontends(): ReadonlyMap<string, FrontendView>;
  /** The generation's backends; available once the generation is built (inside hooks, or in `app.boot`). */
  backends(): ReadonlyMap<string, BackendView>;
  /** A frontend's routes, in order; available once the generation is built (inside hooks, or in `app.boot`). */
  routes(frontend: string): readonly RouteView[];
  /**
   * Sends `data` under `topic` to every worker serving this configuration (this one
   * too), where `app.message` taps answer it; resolves with their answers (a purge
   * reaching every worker's cache). Alone (workers: 0), only this process.
   */
  broadcast(topic: string, data: unknown): Promise<unknown[]>;
  /**
   * Takes `cost` (default 1) from a budget of `limit` per `window` ms under `key`, decided
   * once for every worker (by the master; alone, by this process): rate limits that hold
   * across workers. A sliding window (two fixed windows, the older one weighted). With
   * several workers the master leases each a share of what is left, spent without a
   * message; the workers together never allow more than `limit`.
   */
  take(key: string, options: TakeOptions): Promise<TakeResult>;
  /**
   * An HTTP request of the plugin's own, through the gateway's pools: to a backend by
   * name (balanced, retried on another server), to a URL the configuration names, or
   * through a frontend in this process (a subrequest). Resolves with the whole answer,
   * whatever its status; rejects with a `FetchError`. See sdk/fetch.ts.
   */
  fetch(request: FetchRequest): Promise<FetchResponse>;
  /** Injected clock (ms); tests may replace it. */
  now(): number;
}

export type Dispose = () => void | Promise<void>;

export interface PluginDefinition<Options = Record<string, unknown>> {
  /** Unique name, used in `use:` for built-ins, in logs, in `before:` ordering and in stats. */
  name: string;
  version: string;
  /** Gateway versions this plugin works with, e.g. `^0.1`. */
  gateway?: string;
  description?: string;
  /** Validates and fills defaults of the options given in the config. */
  options?: z.ZodType<Options>;
  /** Set up in every generation without being named in a config (algorithms, matchers). */
  autoload?: boolean;
  /**
   * Plugins it cannot work without, by name. Each use of it needs each of them applying
   * wherever it does: at the top level (every frontend), on its frontend, or on its
   * route. `check` reports a use without. Says nothing of order: see `after`.
   */
  requires?: readonly string[];
  /**
   * Plugins whose taps run before its own, by name: `after` for every tap it makes (within
   * a stage, as a tap's own `after`). `check` warns when a stage puts a tap first anyway.
   */
  after?: readonly string[];
  /**
   * Algorithms, matchers and detectors it brings (`defineBalancer`, `defineMatcher`,
   * `defineDetector`): usable in the whole configuration wherever the plugin is used.
   */
  extensions?: readonly AnyExtension[];
  /** Runs once per generation at load time; build everything derivable from options here. A plugin that only brings extensions needs none. */
  setup?(api: PluginApi, options: Options): void | Dispose | Promise<void | Dispose>;
  /** `tapgate` commands it adds, by name (a built-in's only: see sdk/commands.ts). */
  commands?: Record<string, PluginCommand>;
  /**
   * What the check asks of the world outside the configuration, as it tries each server:
   * a URL the options name answers, a service is up. Runs after `setup`, with the same
   * `api`, in `tapgate check` and before a reload (never in a running gateway's path); each
   * warning returned is reported at the plugin's options and never makes a configuration
   * invalid: the world may be back by the time it serves. Bounded by the plugin's own
   * timeouts; the check gives it 10 s at most.
   */
  probe?(api: PluginApi, options: Options): Promise<readonly ProbeWarning[] | void>;
}

/** A warning of `probe`: `path` within the plugin's options (e.g. `['jwks_url']`), or the plugin itself. */
export interface ProbeWarning {
  path?: readonly (string | number)[];
  message: string;
}

/**
 * Tap options with ordering: `stage` (see `Stage`), `before` and `after` other plugins
 * by name. tapable's own types know only `before`; this carries `after` through.
 */
export function tapOptions(options: { name: string; stage?: number; before?: string | string[]; after?: string | string[] }): {
  name: string;
  stage?: number;
  before?: string;
} {
  return options as { name: string; stage?: number; before?: string };
}

/** Declare a plugin. Identity at run time; gives types to `setup`'s arguments. */
export function definePlugin<Options = Record<string, unknown>>(definition: PluginDefinition<Options>): PluginDefinition<Options> {
  return definition;
}

/** Declare a configuration in `tapgate.config.ts`. */
export function defineConfig(config: GatewayConfigInput): GatewayConfigInput {
  return config;
}
