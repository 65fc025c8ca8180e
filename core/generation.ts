// A generation: one loaded configuration with everything derived from it (plugin
// instances, hook chains, backends with their balancers and pools). Built once, never
// changed; the kernel serves from one and a reload builds the next beside it.
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { loadPluginDefinition, PluginLoadError, type AnyPluginDefinition } from './loader.ts';
import { createAppHooks, createHttpHooks, createTcpHooks } from './hooks.ts';
import { type AppHooks, type ContainedError, type Hooks, type HttpHooks, type TcpHooks } from '../sdk/hooks.ts';
import { afterOverruled, copyTaps, runner, type Meter, type TapMeter } from './taps.ts';
import { WindowCounters } from './rate-windows.ts';
import { type TakeOptions, type TakeResult } from '../sdk/index.ts';

/** This process's shared counters (alone, they are everyone's); kept across generations, so limits hold through reloads. */
/** api.take's windows when this process decides alone (workers: 0): made on the first take, as they hold 100,000 slots at once. */
let localCounters: WindowCounters | undefined;
import { Backend, resolveBackendTimeouts } from './upstream/backend.ts';
import { originsIn, Subrequests } from './upstream/subrequest.ts';
import type { GenerationInfo, Mode } from '../sdk/views.ts';
import { compileCondition } from './routes.ts';
import { type RouteView } from '../sdk/routes.ts';
import { ExtensionRegistry } from './extensions/registry.ts';
import { defaultTimeouts, type FrontendConfig, type GatewayConfig, type PluginRefConfig } from '../sdk/config.ts';
import { formatPath, validate, type KeyPath, type Problem } from './config/problems.ts';
import { parseAddress, type BindAddress } from '../sdk/units.ts';
import { MetricsError, MetricsRegistry } from './metrics.ts';
import { buildFrontendTls, type FrontendTls } from './tls/termination.ts';
import { buildServerTls } from './tls/origination.ts';
import type { TlsProblems } from './tls/files.ts';
import type { Dispose, MatcherExtension, PluginApi, PluginScope } from '../sdk/index.ts';

/** A route with its compiled hook chains: the frontend's taps and the route's own, merged once. */
export interface RouteRuntime extends RouteView {
  readonly http: HttpHooks;
  readonly tcp: TcpHooks;
}

export interface FrontendRuntime {
  readonly name: string;
  readonly mode: Mode;
  readonly binds: readonly BindAddress[];
  readonly defaultBackend: string | undefined;
  /** The frontend's own chains (gateway and frontend plugins); `route` taps run here. */
  readonly http: HttpHooks;
  readonly tcp: TcpHooks;
  /** In config order. */
  readonly routes: readonly RouteRuntime[];
  /** Taken when no route tap chooses one: `default_backend` with the frontend's chains. */
  readonly fallback: RouteRuntime;
  /** TCP mode: ms to wait for the first bytes when a route needs them; 0 when no route does. */
  readonly inspectDelay: number;
  readonly maxconn: number;
  readonly timeouts: { client_headers: number; client: number; keepalive: number };
  readonly limits: FrontendConfig['limits'];
  readonly forwarded: FrontendConfig['forwarded'];
  /** TLS termination: certificates by SNI, versions, client verification; none for plain TCP. */
  readonly tls: FrontendTls | undefined;
  /** Cleartext HTTP/2 with prior knowledge besides HTTP/1.x. */
  readonly h2c: boolean;
  /** Read HTTP/2 frames before node's session, keeping the rules it does not (core/http/h2/guard.ts). */
  readonly h2_strict_frames: boolean;
}

export interface GenerationOptions {
  id: number;
  config: GatewayConfig;
  file: string;
  dir: string;
  builtins: ReadonlyMap<string, AnyPluginDefinition>;
  logger: Logger;
  /**
   * Where a key path of `config` is in the file, for problems: the path as the file
   * spells it, and its line and column when known. Defaults to the path alone.
   */
  where?: (path: KeyPath, at?: 'key' | 'value') => Pick<Problem, 'path' | 'line' | 'column'>;
  now?: () => number;
  random?: () => number;
}

interface PluginInstance {
  name: string;
  scope: PluginScope;
  dispose?: Dispose;
}

/** The longest a plugin's probe is waited for (`PluginDefinition.probe`). */
const probeTime = 10_000;

export class Generation {
  readonly info: GenerationInfo;
  readonly app: AppHooks = createAppHooks();
  readonly frontends = new Map<string, FrontendRuntime>();
  readonly backends = new Map<string, Backend>();
  readonly metrics = new MetricsRegistry();
  readonly plugins: PluginInstance[] = [];
  /** The algorithms, matchers and detectors its plugins brought. */
  readonly extensions = new ExtensionRegistry();
  /** What the build found questionable but usable (an expired certificate): `check` reports them. */
  readonly warnings: Problem[] = [];
  /** The plugins' probes (`PluginDefinition.probe`), for a check that tries the world outside: each gives its warnings. */
  readonly probes: (() => Promise<Problem[]>)[] = [];
  /** Plugins' `api.fetch`: their URL pools, their subrequests through frontends. */
  readonly subrequests = new Subrequests(this);
  #disposed = false;

  constructor(
    readonly id: number,
    readonly config: GatewayConfig,
    readonly file: string,
    readonly logger: Logger,
  ) {
    this.info = Object.freeze({
      id,
      configFile: file,
      frontends: Object.keys(config.frontends),
      backends: Object.keys(config.backends),
    });
  }

  /**
   * Delivers a plugin's message to every worker serving this configuration: under a
   * master, the gateway replaces this with a trip through it; alone, only this process.
   */
  broadcast: (topic: string, data: unknown) => Promise<unknown[]> = async (topic, data) => [await this.deliver(topic, data)];

  /** Shared window counters: under a master, the gateway replaces this with a trip to it. */
  take: (key: string, options: TakeOptions) => Promise<TakeResult> = async (key, options) => (localCounters ??= new WindowCounters()).take(key, options);

  /** A broadcast message arrives here: the `app.message` taps answer it. */
  async deliver(topic: string, data: unknown): Promise<unknown> {
    return this.app.message.taps.length ? runner(this.app.message)(topic, data) : undefined;
  }

  /** `app.error` taps are running. */
  #reporting = false;

  /** Report a contained error: logged with who failed, and given to `app.error` taps. */
  report = (e: ContainedError): void => {
    this.logger.error({ plugin: e.plugin, hook: e.hook, frontend: e.frontend, err: e.error }, 'contained error');
    // An `app.error` tap's own failure is only logged: given back to it, it would fail again, and again.
    if (!this.app.error.taps.length || this.#reporting) return;
    this.#reporting = true;
    try {
      runner(this.app.error)(e);
    } finally {
      this.#reporting = false;
    }
  };

  /** Starts health checks: only a generation that serves runs them (`tapgate check` builds one and discards it). Dispose stops them. */
  startHealthChecks(): void {
    if (this.#disposed) return;
    for (const b of this.backends.values()) b.health.start(this.logger.child({ backend: b.name }));
  }

  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    if (this.app.close.taps.length) {
      try {
        await runner(this.app.close)(this.info);
      } catch (error) {
        this.report({ hook: 'app.close', error });
      }
    }
    for (const p of [...this.plugins].reverse()) {
      try {
        await p.dispose?.();
      } catch (error) {
        this.report({ plugin: p.name, hook: 'dispose', error });
      }
    }
    this.subrequests.close();
    await Promise.all([...this.backends.values()].map((b) => b.close()));
  }
}

/** Builds a generation, or throws a GenerationError listing every problem found. */
export async function buildGeneration(o: GenerationOptions): Promise<Generation> {
  const problems: Problem[] = [];
  const where = o.where ?? ((path: KeyPath) => ({ path: formatPath(path) }));
  const problem = (path: KeyPath, message: string, hint?: string, at?: 'key' | 'value') => {
    problems.push({ severity: 'error', file: o.file, ...where(path, at), message, ...(hint ? { hint } : {}) });
  };
  const tlsProblems: TlsProblems = {
    error: (path, message, hint) => problem(path, message, hint),
    warning: (path, message, hint) => problems.push({ severity: 'warning', file: o.file, ...where(path), message, ...(hint ? { hint } : {}) }),
  };
  const gen = new Generation(o.id, o.config, o.file, o.logger);
  const now = o.now ?? Date.now;
  const random = o.random ?? Math.random;

  try {
    // 1. Load every plugin definition and check its options, collecting all problems.
    // `name`: the plugin's own, once loaded (kept when its options are refused: it is still used there).
    const refs: { path: KeyPath; scope: PluginScope; use?: string; def?: AnyPluginDefinition; name?: string; options?: unknown }[] = [];
    for (const def of o.builtins.values()) if (def.autoload) refs.push({ path: ['plugins'], scope: { kind: 'gateway' }, def });
    const addRefs = (list: PluginRefConfig[], base: KeyPath, scope: PluginScope) =>
      list.forEach((ref, i) =>
        refs.push(typeof ref === 'string' ? { path: [...base, i], scope, use: ref } : { path: [...base, i], scope, use: ref.use, options: ref.options }),
      );
    addRefs(o.config.plugins, ['plugins'], { kind: 'gateway' });
    for (const [name, fe] of Object.entries(o.config.frontends)) {
      addRefs(fe.plugins, ['frontends', name, 'plugins'], { kind: 'frontend', frontend: name, mode: fe.mode });
      fe.routes.forEach((r, i) =>
        addRefs(r.plugins, ['frontends', name, 'routes', i, 'plugins'], { kind: 'route', frontend: name, route: routeName(r.name, i), mode: fe.mode }),
      );
    }

    const brought = new Set<AnyPluginDefinition>();
    for (const ref of refs) {
      if (!ref.def) {
        try {
          ref.def = await loadPluginDefinition(ref.use!, o.dir, o.builtins);
        } catch (err) {
          problem(ref.path, (err as Error).message, err instanceof PluginLoadError ? err.hint : undefined);
          continue;
        }
      }
      ref.name = ref.def.name;
      // A plugin's extensions, once however often it is used, and whatever its options: a
      // mistake there must not also make its algorithms unknown to the backends.
      if (!brought.has(ref.def)) {
        brought.add(ref.def);
        for (const extension of ref.def.extensions ?? []) {
          try {
            gen.extensions.add(extension, ref.def.name);
          } catch (err) {
            problem(ref.path, `plugin "${ref.def.name}": ${(err as Error).message}`);
          }
        }
      }
      if (ref.def.options) {
        const checked = validate(ref.def.options, ref.options ?? {});
        if (!checked.success) {
          for (const r of checked.reports) problem([...ref.path, 'options', ...r.path], `plugin "${ref.def.name}" options: ${r.message}`, r.hint, r.at);
          ref.def = undefined;
          continue;
        }
        ref.options = checked.data;
      } else ref.options ??= {};
    }

    // Each use of a plugin needs each plugin it requires applying wherever it does.
    for (const ref of refs) {
      for (const needed of ref.def?.requires ?? []) {
        if (refs.some((other) => (other.name ?? other.use) === needed && covers(other.scope, ref.scope))) continue;
        problem(ref.path, `plugin "${ref.name}" requires plugin "${needed}", which does not apply here`, `add ${needed} to ${placesFor(ref.scope)}`);
      }
    }

    // The kernel's metrics are registered before any plugin's: a plugin taking one of their names is refused, naming it.
    const meter = tapMeter(gen.metrics, o.config.plugin_budget ?? { slow: 50, timeout: 30_000 }, o.logger);

    // 2. Set up gateway-wide plugins.
    const captured: { name: string; scope: PluginScope; hooks: Hooks; after?: readonly string[] }[] = [];
    const setup = async (def: AnyPluginDefinition, options: unknown, scope: PluginScope, path: KeyPath) => {
      const hooks: Hooks = { app: createAppHooks(), http: createHttpHooks(), tcp: createTcpHooks() };
      const log = o.logger.child({ plugin: def.name, ...(scope.kind === 'frontend' ? { frontend: scope.frontend } : {}) });
      // The URLs this instance's options name are the ones its `api.fetch` may reach by default.
      const listed = originsIn(options);
      const api: PluginApi = {
        name: def.name,
        scope,
        hooks,
        generation: gen.info,
        dir: o.dir,
        log,
        metrics: gen.metrics.forPlugin(def.name),
        frontends: () => gen.frontends,
        backends: () => gen.backends,
        routes: (frontend) => gen.frontends.get(frontend)?.routes ?? [],
        broadcast: (topic, data) => gen.broadcast(topic, data),
        take: (key, options) => gen.take(key, options),
        fetch: (request) => gen.subrequests.fetch(request, listed),
        now,
      };
      try {
        const dispose = await def.setup?.(api, options);
        gen.plugins.push({ name: def.name, scope, dispose: typeof dispose === 'function' ? dispose : undefined });
        captured.push({ name: def.name, scope, hooks, after: def.after });
        if (def.probe) {
          const probe = def.probe.bind(def);
          const warn = (p: KeyPath, message: string): Problem => ({
            severity: 'warning',
            file: o.file,
            ...where(p),
            message: `plugin "${def.name}": ${message}`,
          });
          gen.probes.push(async () => {
            let timer: NodeJS.Timeout | undefined;
            const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), probeTime)));
            try {
              const found = await Promise.race([probe(api, options), late]);
              if (found === 'late') return [warn(path, `its probe did not finish in ${probeTime / 1000} s`)];
              return (found ?? []).map((w) => warn(w.path?.length ? [...path, 'options', ...w.path] : path, w.message));
            } catch (err) {
              return [warn(path, `its probe failed: ${(err as Error).message}`)];
            } finally {
              clearTimeout(timer);
            }
          });
        }
      } catch (err) {
        // A refusal of api.metrics names the plugin for when it happens elsewhere; here the problem does.
        const message = err instanceof MetricsError && err.plugin === def.name ? err.detail : (err as Error).message;
        problem(path, `plugin "${def.name}" failed to set up: ${message}`);
      }
    };
    for (const ref of refs) if (ref.def && ref.scope.kind === 'gateway') await setup(ref.def, ref.options, ref.scope, ref.path);

    // 3. Backends, each with its algorithm.
    const modeOf = backendModes(o.config);
    for (const [name, be] of Object.entries(o.config.backends)) {
      const mode = be.mode ?? modeOf.get(name) ?? 'http';
      const serverTls = be.servers.map((s, i) => buildServerTls(s, parseAddress(s.address)!.host, o.dir, ['backends', name, 'servers', i], tlsProblems));
      const backend = new Backend(name, mode, be, resolveBackendTimeouts(o.config.defaults.timeouts, be.timeouts), serverTls);
      const balancer = gen.extensions.createBalancer(be, { backend: name, servers: backend.servers, random, now }, ['backends', name], problem);
      if (!balancer) continue;
      backend.balancer = balancer;
      gen.backends.set(name, backend);
    }

    // 4. Frontends with their routes (conditions compiled from the registered matchers), then their own plugin chains.
    for (const [name, fe] of Object.entries(o.config.frontends)) {
      const t = { ...defaultTimeouts, ...stripUndefined(o.config.defaults.timeouts), ...stripUndefined(fe.timeouts) };
      const http = createHttpHooks();
      const tcp = createTcpHooks();
      const inspecting = new Set<MatcherExtension>();
      const seen = new Map<string, number>();
      const routes = fe.routes.map((r, i): RouteRuntime => {
        const path: KeyPath = ['frontends', name, 'routes', i];
        const routeNameText = routeName(r.name, i);
        if (seen.has(routeNameText))
          problem([...path, 'name'], `route name "${routeNameText}" is already used by routes[${seen.get(routeNameText)}] of this frontend`);
        seen.set(routeNameText, i);
        const condition = r.match ? compileCondition(r.match, fe.mode, gen.extensions.matchers, [...path, 'match'], problem, inspecting) : undefined;
        const plugins = r.plugins.map((p) => (typeof p === 'string' ? p : p.use));
        // A route without plugins of its own shares the frontend's chains.
        const own = plugins.length > 0;
        return Object.freeze({
          name: routeNameText,
          frontend: name,
          index: i,
          backend: r.backend ?? fe.default_backend,
          handoff: r.frontend,
          condition,
          plugins,
          http: own ? createHttpHooks() : http,
          tcp: own ? createTcpHooks() : tcp,
        });
      });
      gen.frontends.set(name, {
        name,
        mode: fe.mode,
        binds: [fe.bind ?? []].flat().map((b) => parseAddress(b)!),
        defaultBackend: fe.default_backend,
        http,
        tcp,
        routes,
        fallback: Object.freeze({
          name: 'default',
          frontend: name,
          index: -1,
          backend: fe.default_backend,
          handoff: undefined,
          condition: undefined,
          plugins: [],
          http,
          tcp,
        }),
        inspectDelay: fe.mode === 'tcp' && [...inspecting].some((m) => m.inspect) ? fe.inspect_delay : 0,
        maxconn: fe.maxconn,
        timeouts: { client_headers: t.client_headers, client: t.client, keepalive: t.keepalive },
        limits: fe.limits,
        forwarded: fe.forwarded,
        tls: fe.tls && buildFrontendTls(fe.tls, name, fe.mode, o.dir, ['frontends', name, 'tls'], tlsProblems),
        h2c: fe.h2c,
        h2_strict_frames: fe.h2_strict_frames,
      });
    }
    for (const ref of refs) if (ref.def && ref.scope.kind === 'frontend') await setup(ref.def, ref.options, ref.scope, ref.path);
    for (const ref of refs) if (ref.def && ref.scope.kind === 'route') await setup(ref.def, ref.options, ref.scope, ref.path);

    // 5. Copy each plugin's taps onto the hooks of its scope, in plugin order: a route's chain is its frontend's, then its own.
    copyTaps(
      captured.map((c) => ({ plugin: c.name, hooks: c.hooks.app, after: c.after })),
      gen.app,
      'app',
      gen.report,
      meter,
    );
    for (const fe of gen.frontends.values()) {
      const scoped = captured.filter((c) => c.scope.kind === 'gateway' || (c.scope.kind === 'frontend' && c.scope.frontend === fe.name));
      const report = (e: ContainedError) => gen.report({ ...e, frontend: fe.name });
      copyTaps(
        scoped.map((c) => ({ plugin: c.name, hooks: c.hooks.http, after: c.after })),
        fe.http,
        'http',
        report,
        meter,
      );
      copyTaps(
        scoped.map((c) => ({ plugin: c.name, hooks: c.hooks.tcp, after: c.after })),
        fe.tcp,
        'tcp',
        report,
        meter,
      );
      for (const route of fe.routes) {
        if (route.http === fe.http) continue;
        const chain = [...scoped, ...captured.filter((c) => c.scope.kind === 'route' && c.scope.frontend === fe.name && c.scope.route === route.name)];
        copyTaps(
          chain.map((c) => ({ plugin: c.name, hooks: c.hooks.http, after: c.after })),
          route.http,
          'http',
          report,
          meter,
        );
        copyTaps(
          chain.map((c) => ({ plugin: c.name, hooks: c.hooks.tcp, after: c.after })),
          route.tcp,
          'tcp',
          report,
          meter,
        );
      }
    }
    // A plugin's `after` orders its taps within a stage only: warn where a stage overrules it.
    const chains: [string, object][] = [['app', gen.app]];
    for (const fe of gen.frontends.values())
      chains.push(
        ['http', fe.http],
        ['tcp', fe.tcp],
        ...fe.routes.flatMap((r): [string, object][] => [
          ['http', r.http],
          ['tcp', r.tcp],
        ]),
      );
    const overruled = new Set<string>();
    for (const [set, hooks] of chains) {
      for (const { plugin, message } of afterOverruled(set, hooks)) {
        if (overruled.has(message)) continue;
        overruled.add(message);
        const at = refs.find((r) => r.name === plugin && r.def?.after)?.path ?? ['plugins'];
        problems.push({ severity: 'warning', file: o.file, ...where(at), message });
      }
    }

    if (gen.app.upstreamConnected.taps.length) {
      const connected = gen.app.upstreamConnected;
      for (const b of gen.backends.values()) for (const server of b.servers) server.onConnect = (sv, ms) => runner(connected)(sv, ms);
    }

    if (problems.some((p) => p.severity === 'error')) throw new GenerationError(problems);
    gen.warnings.push(...problems);
    if (gen.app.boot.taps.length) await runner(gen.app.boot)(gen.info);
    return gen;
  } catch (err) {
    await gen.dispose().catch(() => undefined);
    if (err instanceof GenerationError) throw err;
    throw new GenerationError([...problems, { severity: 'error', file: o.file, path: '', message: `generation failed to start: ${(err as Error).message}` }]);
  }
}

/**
 * What every plugin tap costs, by plugin and hook: a time histogram (its count is the
 * calls) and an error counter, in the generation's metrics.
 */
function tapMeter(metrics: MetricsRegistry, budget: { slow: number; timeout: number }, logger: Logger): Meter {
  const seconds = metrics.histogram(
    'plugin_tap_seconds',
    'Time spent in a plugin tap, by plugin and hook',
    [0.000005, 0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.1, 1],
  );
  const errors = metrics.counter('plugin_tap_errors_total', 'Plugin tap calls that threw, rejected or timed out, by plugin and hook');
  const slowCalls = metrics.counter('plugin_tap_slow_total', 'Plugin tap calls over plugin_budget.slow, by plugin and hook');
  const meters = new Map<string, TapMeter>();
  return (plugin, hook) => {
    const key = `${plugin} ${hook}`;
    let m = meters.get(key);
    if (!m) {
      const time = seconds.bind({ plugin, hook });
      const failed = errors.bind({ plugin, hook });
      const slow = slowCalls.bind({ plugin, hook });
      // Reported in the log at most once a minute per plugin and hook; every one is counted.
      let loggedAt = -Infinity;
      m = {
        record: (ms, bad) => (time.observe(ms / 1000), bad && failed.inc()),
        slowAfter: budget.slow,
        timeoutAfter: budget.timeout,
        slow: (ms) => {
          slow.inc();
          const now = performance.now();
          if (now - loggedAt < 60_000) return;
          loggedAt = now;
          logger.warn({ plugin, hook, ms: Math.round(ms * 100) / 100, budget_ms: budget.slow }, 'plugin tap over its time budget');
        },
      };
      meters.set(key, m);
    }
    return m;
  };
}

/** A plugin used at scope `a` applies wherever one used at `b` does: the top level covers all, a frontend its routes. */
function covers(a: PluginScope, b: PluginScope): boolean {
  if (a.kind === 'gateway') return true;
  if (b.kind === 'gateway' || a.frontend !== b.frontend) return false;
  return a.kind === 'frontend' || (b.kind === 'route' && a.route === b.route);
}

/** Where a plugin that a use at `scope` requires may go. */
function placesFor(scope: PluginScope): string {
  if (scope.kind === 'gateway') return 'the top-level plugins';
  if (scope.kind === 'frontend') return `frontend "${scope.frontend}"'s plugins or the top-level ones`;
  return `this route's plugins, frontend "${scope.frontend}"'s or the top-level ones`;
}

/** A route's name: as written, or its position. */
export const routeName = (name: string | undefined, index: number): string => name ?? `#${index}`;

export class GenerationError extends Error {
  constructor(readonly problems: Problem[]) {
    super(problems.map((p) => `${p.path ? p.path + ': ' : ''}${p.message}`).join('\n'));
    this.name = 'GenerationError';
  }
}

/** A backend's mode follows the frontends that send to it (as their default or from a route). */
export function backendModes(config: {
  frontends: Record<string, { mode?: Mode; default_backend?: string; routes?: readonly { backend?: string }[] }>;
}): Map<string, Mode> {
  const modes = new Map<string, Mode>();
  for (const fe of Object.values(config.frontends)) {
    for (const name of [fe.default_backend, ...(fe.routes ?? []).map((r) => r.backend)]) if (name) modes.set(name, fe.mode ?? 'http');
  }
  return modes;
}

function stripUndefined<T extends object>(o: T | undefined): Partial<T> {
  return Object.fromEntries(Object.entries(o ?? {}).filter(([, v]) => v !== undefined)) as Partial<T>;
}
