// The test harness plugin authors use, and the built-ins' own tests with it.
// `createTestGateway`: a whole gateway in the test's own process, serving a config
// against fake origins, all on port 0. A test sends real requests, raw bytes and TCP or
// TLS streams and reads what a client, the origins, the stats listener and the access
// log see; the plugins' clock is a fake one the test moves. `createTestMaster` runs the
// real CLI's master with its workers; `checkTestConfig` runs `check`; the rest
// (testing/unit.ts) tests a plugin's parts without a gateway.
import { rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../core/config/check.ts';
import { formatProblem, type Problem } from '../core/config/problems.ts';
import { explain } from '../core/explain.ts';
import { createLogger } from '../core/log.ts';
import { ConfigError, gatewayOf, type RunningGateway } from '../core/serve.ts';
import { startGatewayWith, type StartGatewayOptions } from '../entry/gateway.ts';
import { builtins } from '../plugins/index.ts';
import type { MetricSample, PluginDefinition, TakeOptions, TakeResult } from './index.ts';
import { frontDoor, type FrontDoor } from './testing/client.ts';
import { harnessDir, writeFiles } from './testing/folder.ts';
import { startOrigins, withOrigins, type OriginHandler, type TestOrigin } from './testing/origins.ts';

export type { FrontDoor, TestRequest, TestResponse, TestHeaders, RawOptions, TlsConnectOptions } from './testing/client.ts';
export { echoed, get, readUntil, type Echoed } from './testing/client.ts';
export type { OriginHandler, HttpOriginHandler, TestOrigin, TlsIdentity } from './testing/origins.ts';
export { unusedPort } from './testing/origins.ts';
export { createTestMaster, runTapgate, type TestMaster, type TestMasterOptions, type TestMasterStatus, type CliResult } from './testing/master.ts';
export { TestCa, type Issued, type CertificateSpec } from './testing/certificates.ts';
export { parsePrometheus, type ParsedFamily, type ParsedSample } from './testing/prometheus.ts';
export {
  httpContext,
  tcpContext,
  TestServer,
  eligibleServers,
  pickFrom,
  seededRandom,
  compileMatch,
  createBalancer,
  extensionsOf,
  testMetrics,
  type HttpContextInit,
  type TcpContextInit,
  type TestServerInit,
  type Peer,
} from './testing/unit.ts';

export interface TestGatewayOptions {
  /** The configuration as YAML would write it. A string `origin:<name>` anywhere in it (or `http://origin:<name>/...`) becomes that origin's address. */
  config: Record<string, unknown>;
  /** Plugins by what `use:` says: a definition (kept in memory) or a module's source (written beside the config). */
  plugins?: Record<string, PluginDefinition<any> | string>;
  /** Fake origins to start on 127.0.0.1:0, by name. */
  origins?: Record<string, OriginHandler>;
  /** Other files beside the config (certificates, key lists), by path. */
  files?: Record<string, string>;
  /**
   * The plugins' clock (`api.now()`): where it starts (default: now) and how far it moves
   * at each reading (default 0 ms); or `'real'`, the real time (for plugins that wait on
   * real timers, sockets or other processes). `t.clock.advance(ms)` moves either.
   */
  clock?: { start?: number; step?: number } | 'real';
  /** Answers `api.take` instead of this process's own counters: a shared store that is slow, or gone. */
  take?: (key: string, options: TakeOptions) => Promise<TakeResult>;
}

export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

/** A config problem as `check` reports it, its file relative to the harness's folder. */
export interface TestProblem {
  severity: 'error' | 'warning';
  file: string;
  line?: number;
  column?: number;
  /** Key path such as `frontends.web.plugins[0].options.status`; empty for the whole file. */
  path: string;
  message: string;
  /** A fix when one is obvious ("did you mean ..."). */
  hint?: string;
  /** The problem as `tapgate check` prints it: `tapgate.yaml:4:22: error: <path>: <message>`. */
  text: string;
}

/** What a request would meet (`tapgate explain`): its route, backend, and the plugins tapped on each hook, in order. */
export interface TestExplanation {
  frontend: string;
  route: string;
  backend?: string;
  /** `received`, `route`, `request`, `pickServer`, `upstreamRequest`, `upstreamResponse`, `responseSent`, `requestError`: the plugins tapped, in order. */
  chain: Record<string, string[]>;
}

/** A reload's outcome; `retired()` resolves once the generation it replaced is gone (its metrics families with it). */
export type TestReload = { ok: true; generation: number; retired(): Promise<void> } | { ok: false; problems: TestProblem[] };

export interface TestGateway extends FrontDoor {
  /** The folder holding the config and files. */
  readonly dir: string;
  /** The config file in it. */
  readonly file: string;
  readonly origins: Readonly<Record<string, TestOrigin>>;
  /** Access log entries, as objects, in the order written. */
  readonly logs: Record<string, unknown>[];
  /** The plugins' clock (`api.now()`): by default it starts at the real time and moves only when told. */
  readonly clock: TestClock;
  /** The serving generation: 1, and one more at each reload. */
  readonly generation: number;
  /** The stats listener's port, with a `stats:` section. */
  readonly statsPort: number | undefined;
  /** `/stats.json` from the stats listener when the config has `stats:`; else this process's metrics. */
  stats(): Promise<unknown>;
  /** This process's metrics now. */
  metrics(): MetricSample[];
  /** What a request would meet, without sending it. */
  explain(request: { url: string; method?: string; headers?: Record<string, string>; frontend?: string }): TestExplanation;
  /** Writes the config and files given (else keeps them), checks them and serves the new generation; a refused one leaves the old serving. */
  reload(change?: { config?: Record<string, unknown>; files?: Record<string, string> }): Promise<TestReload>;
  close(): Promise<void>;
}

export async function createTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  let origins: Record<string, TestOrigin> = {};
  const dir = harnessDir();
  let served: Served | undefined;
  let door: ReturnType<typeof frontDoor> | undefined;
  const close = async () => {
    door?.close();
    await served?.close();
    await Promise.all(Object.values(origins).map((o) => o.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    origins = await startOrigins(options.origins);
    const plugins = new Map<string, PluginDefinition<any>>();
    const files: Record<string, string> = { ...options.files };
    for (const [use, plugin] of Object.entries(options.plugins ?? {})) {
      if (typeof plugin === 'string') files[use] = plugin;
      else plugins.set(use, plugin);
    }
    const file = join(dir, 'tapgate.yaml');
    // A reload drains the generation it replaces for up to hard_stop_after: briefly, unless the test says otherwise.
    const write = (config: Record<string, unknown>) =>
      writeFileSync(file, stringify(withOrigins({ log: { level: 'silent', access: false }, hard_stop_after: '50ms', ...config }, origins)));
    writeFiles(dir, files);
    write(options.config);
    const clock = testClock(options.clock);
    const logs: Record<string, unknown>[] = [];
    const s = (served = await serve(file, { plugins, now: clock.now, log: (entry) => logs.push(entry), take: options.take }));
    const d = (door = frontDoor({ port: s.port, frontends: s.frontends, origins }));
    return {
      ...d,
      dir,
      file,
      origins,
      logs,
      clock,
      get generation() {
        return s.generation();
      },
      get statsPort() {
        return s.stats()?.port;
      },
      stats: async () => {
        const listener = s.stats();
        if (!listener) return s.metrics();
        const res = await fetch(`http://127.0.0.1:${listener.port}/stats.json`, {
          headers: listener.authorization ? { authorization: listener.authorization } : {},
        });
        if (!res.ok) throw new Error(`GET /stats.json: ${res.status} ${await res.text()}`);
        return res.json();
      },
      metrics: () => s.metrics(),
      explain: (r) => s.explain(r),
      reload: async (change = {}) => {
        writeFiles(dir, change.files ?? {});
        if (change.config) write(change.config);
        return s.reload();
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

function testClock(o: TestGatewayOptions['clock'] = {}): TestClock {
  let moved = 0;
  if (o === 'real') return { now: () => Date.now() + moved, advance: (ms) => void (moved += ms) };
  const step = o.step ?? 0;
  let time = o.start ?? Date.now();
  return { now: () => (time += step) - step, advance: (ms) => void (time += ms) };
}

export interface CheckTestConfigOptions {
  /** The configuration: an object (written as YAML), or YAML text as is (for problems on the lines you wrote). */
  config: Record<string, unknown> | string;
  /** Plugins by what `use:` says, as for `createTestGateway`. */
  plugins?: Record<string, PluginDefinition<any> | string>;
  files?: Record<string, string>;
  /**
   * Also try what lies outside the configuration, as `tapgate check` does unless told
   * `--no-probe`: a TCP connection to every server, and each plugin's `probe`. Off by
   * default, so that a test's problems are its configuration's.
   */
  probe?: boolean;
}

/** Runs `tapgate check` on a config: every problem it reports, in the order of the file. */
export async function checkTestConfig(options: CheckTestConfigOptions): Promise<{ ok: boolean; problems: TestProblem[] }> {
  const dir = harnessDir();
  try {
    const definitions = new Map(builtins);
    const files: Record<string, string> = { ...options.files };
    for (const [use, plugin] of Object.entries(options.plugins ?? {})) {
      if (typeof plugin === 'string') files[use] = plugin;
      else definitions.set(use, plugin);
    }
    writeFiles(dir, { ...files, 'tapgate.yaml': typeof options.config === 'string' ? options.config : stringify(options.config) });
    const result = await checkConfig(join(dir, 'tapgate.yaml'), {
      builtins: definitions,
      logger: createLogger('silent'),
      probeServers: options.probe === true,
    });
    return { ok: result.ok, problems: result.problems.map((p) => located(p, dir)) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function located(p: Problem, dir: string): TestProblem {
  const problem = { ...p, file: relative(dir, p.file) || p.file };
  return { ...problem, text: formatProblem(problem) };
}

/** A gateway serving in this process, as the harness drives it. */
interface Served {
  frontends(): { name: string; tls: boolean }[];
  generation(): number;
  port(frontend: string, n: number): number;
  stats(): { port: number; authorization?: string } | undefined;
  metrics(): MetricSample[];
  explain(request: { url: string; method?: string; headers?: Record<string, string>; frontend?: string }): TestExplanation;
  reload(): Promise<TestReload>;
  close(): Promise<void>;
}

/**
 * Serves `file` here as `startGateway` does, with the built-ins and `plugins`. What its
 * handle does not tell (the configuration served, `explain`, the generation a reload
 * replaced) the harness reads from the kernel's gateway behind it.
 */
async function serve(
  file: string,
  o: {
    plugins: ReadonlyMap<string, PluginDefinition<any>>;
    now: () => number;
    log: (entry: Record<string, unknown>) => void;
    take?: TestGatewayOptions['take'];
  },
): Promise<Served> {
  const problems = (err: ConfigError) => err.problems.map((p) => located(p, dirname(file)));
  let running: RunningGateway;
  try {
    running = await startGatewayWith(
      {
        config: file,
        plugins: Object.fromEntries(o.plugins),
        now: o.now,
        accessLog: o.log,
        logLevel: (process.env.TAPGATE_TEST_LOG ?? 'silent') as StartGatewayOptions['logLevel'],
      },
      { take: o.take },
    );
  } catch (err) {
    if (err instanceof ConfigError)
      throw new Error(
        `config invalid:\n${problems(err)
          .map((p) => p.text)
          .join('\n')}`,
      );
    throw err;
  }
  const gateway = gatewayOf(running)!;
  return {
    frontends: () => Object.entries(gateway.generation.config.frontends).map(([name, fe]) => ({ name, tls: fe.tls !== undefined })),
    generation: () => running.generation,
    port: (frontend, n) => running.port(frontend, n),
    stats: () => {
      const section = gateway.generation.config.stats;
      if (!section || running.statsPort === undefined) return undefined;
      const basic = section.basic_auth && `Basic ${Buffer.from(`${section.basic_auth.user}:${section.basic_auth.password}`).toString('base64')}`;
      return { port: running.statsPort, authorization: basic || (section.token ? `Bearer ${section.token}` : undefined) };
    },
    metrics: () => gateway.metrics(),
    explain: (r) => {
      const e = explain(gateway.generation, { method: r.method ?? 'GET', url: r.url, headers: r.headers, frontend: r.frontend });
      return {
        frontend: e.frontend,
        route: e.route,
        backend: e.backend?.name,
        chain: Object.fromEntries(e.chain.map((c) => [c.hook, c.taps.map((t) => t.plugin)])),
      };
    },
    reload: async () => {
      try {
        await running.reload();
      } catch (err) {
        if (err instanceof ConfigError) return { ok: false, problems: problems(err) };
        throw err;
      }
      return { ok: true, generation: running.generation, retired: () => retired(() => gateway.retiring === 0) };
    },
    close: () => running.kill(),
  };
}

/** Resolves once `gone()` holds: the generation a swap replaced is disposed a little after its last request (polled; the gateway has no event for it). */
async function retired(gone: () => boolean): Promise<void> {
  for (let i = 0; !gone(); i++) {
    if (i >= 500) throw new Error('the old generation was not disposed within 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}
