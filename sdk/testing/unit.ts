// A plugin's parts tested on their own, without a gateway: the request and connection
// contexts its taps, matchers and balancers receive (the kernel's own classes), servers
// whose state a test sets, the kernel's rule for which servers a balancer may pick,
// match conditions compiled as a route's are, and a metrics registry.
import type {
  AnyExtension,
  Balancer,
  BalancerExtension,
  Condition,
  Detector,
  HttpContext,
  MatcherExtension,
  MetricSample,
  Metrics,
  Mode,
  PickContext,
  ServerState,
  ServerView,
  TcpContext,
  TlsInfo,
} from '../index.ts';
import { HttpContext as KernelHttpContext } from '../../core/http/context.ts';
import { TcpContext as KernelTcpContext } from '../../core/tcp/context.ts';
import { compileCondition } from '../../core/routes.ts';
import { formatPath } from '../../core/config/problems.ts';
import { MetricsRegistry } from '../../core/metrics.ts';
import { eligibleOf } from '../../core/upstream/backend.ts';
import { newServerHealth } from '../../core/upstream/health.ts';
import { ExtensionRegistry } from '../../core/extensions/registry.ts';

export interface Peer {
  address: string;
  port: number;
}

export interface HttpContextInit {
  /** Default `web`. */
  frontend?: string;
  /** Default `GET`. */
  method?: string;
  /** Path and query as the client sent them; default `/`. */
  url?: string;
  /** By lower-cased name; default none. */
  headers?: Record<string, string | string[]>;
  /** Default 127.0.0.1:50000. */
  client?: Peer;
  /** The gateway's end of the connection; default 127.0.0.1:80. */
  local?: Peer;
  /** The client connection's TLS facts, when it came over TLS. */
  tls?: TlsInfo;
  /** `1.0`, `1.1` (the default) or `2.0`. */
  httpVersion?: string;
}

/** A request as taps, matchers and balancers see it, before any plugin ran. */
export function httpContext(init: HttpContextInit = {}): HttpContext {
  const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return new KernelHttpContext(
    init.frontend ?? 'web',
    1,
    init.method ?? 'GET',
    init.url ?? '/',
    init.httpVersion ?? '1.1',
    headers,
    init.client ?? { address: '127.0.0.1', port: 50000 },
    init.local ?? { address: '127.0.0.1', port: 80 },
    init.tls,
    Date.now(),
  );
}

export interface TcpContextInit {
  /** Default `tcp`. */
  frontend?: string;
  client?: Peer;
  local?: Peer;
  /** What a TLS ClientHello said, when inspection read one. */
  tls?: TlsInfo;
}

/** A TCP session as taps, matchers and balancers see it: addresses, no path, headers or cookies. */
export function tcpContext(init: TcpContextInit = {}): TcpContext {
  return new KernelTcpContext(
    init.frontend ?? 'tcp',
    1,
    init.client ?? { address: '127.0.0.1', port: 50000 },
    init.local ?? { address: '127.0.0.1', port: 80 },
    init.tls,
    Date.now(),
  );
}

export type TestServerInit = Partial<
  Pick<TestServer, 'backend' | 'address' | 'weight' | 'maxconn' | 'backup' | 'state' | 'up' | 'active' | 'peakActive' | 'changedAt' | 'health'>
>;

/**
 * A server whose every field a test sets (`up`, `state`, `weight`, `active`...), as a
 * balancer or a stats page receives it. `usable` follows from them as the kernel's
 * does, leaving out maxconn (a test takes a server at its maxconn out of the list).
 */
export class TestServer implements ServerView {
  backend = 'b';
  address = { host: '127.0.0.1', port: 0 };
  weight = 1;
  maxconn = 0;
  backup = false;
  state: ServerState = 'ready';
  up = true;
  active = 0;
  peakActive = 0;
  changedAt = 0;
  health = newServerHealth();

  constructor(
    readonly name: string,
    init: TestServerInit = {},
  ) {
    Object.assign(this, init);
  }

  get id(): string {
    return `${this.backend}/${this.name}`;
  }

  get usable(): boolean {
    return this.up && this.state === 'ready' && this.weight > 0;
  }
}

/** The servers a balancer may pick from, as the kernel decides: usable primaries, else usable backups. */
export function eligibleServers<S extends ServerView>(servers: readonly S[]): S[] {
  return eligibleOf(servers);
}

/** Picks as the kernel does: among the eligible of `servers` only; nothing when none is. */
export function pickFrom(balancer: Balancer, servers: readonly ServerView[], ctx: PickContext): ServerView | undefined {
  const eligible = eligibleOf(servers);
  return eligible.length ? balancer.pick(ctx, eligible) : undefined;
}

/** A seeded random source in [0, 1) (a linear congruential generator): the same draws on every run. */
export function seededRandom(seed = 42): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/**
 * Compiles a route's `match:` as `check` does, with `matchers` (a plugin's extensions, or
 * the built-ins'); throws with every problem, at its key path.
 */
export function compileMatch(match: Record<string, unknown>, matchers: readonly MatcherExtension[], mode: Mode = 'http'): Condition {
  const problems: string[] = [];
  const condition = compileCondition(match, mode, new Map(matchers.map((m) => [m.name, m])), ['match'], (path, message) =>
    problems.push(`${formatPath(path)}: ${message}`),
  );
  if (!condition || problems.length) throw new Error(`match refused:\n${problems.join('\n')}`);
  return condition;
}

/**
 * A balancer made as the kernel makes one for backend `b` from `balance: name(argument)`
 * and `balance_options: options`, both checked by the algorithm's schemas; throws what
 * `check` would report, one problem a line.
 */
export function createBalancer(
  algorithm: BalancerExtension,
  o: { servers: readonly ServerView[]; argument?: string; options?: Record<string, unknown>; random?: () => number; now?: () => number; backend?: string },
): Balancer {
  const registry = new ExtensionRegistry();
  registry.add(algorithm, 'test');
  const problems: string[] = [];
  const backend = o.backend ?? 'b';
  const balance = o.argument === undefined ? algorithm.name : `${algorithm.name}(${o.argument})`;
  const init = { backend, servers: o.servers, random: o.random ?? seededRandom(), now: o.now ?? (() => 0) };
  const made = registry.createBalancer({ balance, balance_options: o.options ?? {} }, init, ['backends', backend], (path, message, hint) =>
    problems.push(`${formatPath(path)}: ${message}${hint ? ` (${hint})` : ''}`),
  );
  if (!made) throw new Error(problems.join('\n'));
  return made;
}

/** The extensions a plugin brings, by kind and name, as a configuration would find them. */
export function extensionsOf(plugin: { name: string; extensions?: readonly AnyExtension[] }): {
  balancers: ReadonlyMap<string, BalancerExtension>;
  matchers: ReadonlyMap<string, MatcherExtension>;
  detectors: ReadonlyMap<string, Detector>;
} {
  const registry = new ExtensionRegistry();
  for (const e of plugin.extensions ?? []) registry.add(e, plugin.name);
  return { balancers: registry.balancers, matchers: registry.matchers, detectors: registry.detectors };
}

/** A metrics registry as `api.metrics` is one, with `snapshot()` to read what was recorded. */
export function testMetrics(): Metrics & { snapshot(): MetricSample[] } {
  return new MetricsRegistry();
}
