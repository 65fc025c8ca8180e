// A gateway serving, started from this process: by `tapgate run`, or from code through
// `startGateway` (entry/). Alone (one worker in this process), or as a master forking
// the configuration's workers. Either way: check, serve, reload by building the next
// generation beside the serving one (a failure leaves that one serving), stop
// gracefully or at once.
import { checkConfig } from './config/check.ts';
import { resolve } from 'node:path';
import { objectLabel, objectSource, type ConfigSource } from './config/source.ts';
import { formatProblem, type Problem } from './config/problems.ts';
import type { GatewayConfig } from '../sdk/config.ts';
import { Gateway } from './gateway.ts';
import type { Generation } from './generation.ts';
import type { AnyPluginDefinition } from './loader.ts';
import { accessLogDrops, createAccessLog, createLogger, type AccessLog, type Logger } from './log.ts';
import { Coalesced } from './master/coalesced.ts';
import { Master, type WorkerEntry } from './master/master.ts';
import type { ReloadReply } from './master/messages.ts';
import type { MetricSample } from '../sdk/metrics.ts';

export interface ServeOptions {
  /** A configuration file (YAML, or tapgate.config.ts), or a configuration as an object. */
  config: string | object;
  /** The folder an object configuration's relative paths (plugin files, certificates) resolve against; default the working folder. */
  dir?: string;
  /** Every plugin `use:` may name by name: the built-ins, and any more. */
  plugins: ReadonlyMap<string, AnyPluginDefinition>;
  /** The log level; default the configuration's `log.level`. Logs are JSON lines on stderr. */
  logLevel?: string;
  /** Where access log entries go; default where the configuration's `log.access` says. */
  accessLog?: AccessLog;
  /** The plugins' clock (`api.now()`, ms). */
  now?: () => number;
  /**
   * Serve as the configuration says, as `tapgate run` does: a master forking its
   * `workers`, started this way (with `workers: 0`, alone). Absent: alone.
   */
  workers?: WorkerEntry;
  /** Act on signals as `tapgate run` does: SIGHUP and SIGUSR2 reload, SIGTERM and SIGINT stop gracefully, a second SIGINT at once. */
  signals?: boolean;
  /** Answers `api.take` in every generation, in place of this process's own counters: the test harness's shared store. Alone only. */
  take?: Generation['take'];
}

/** A gateway serving: its ports, metrics, reloads and stop. */
export interface RunningGateway {
  /** The port a frontend's `n`-th bind listens on (for port 0, the one it got); default: the first frontend. */
  port(frontend?: string, n?: number): number;
  /** The stats listener's port; undefined without a `stats` section. */
  readonly statsPort: number | undefined;
  /** The serving generation: 1, then one more for each reload. */
  readonly generation: number;
  /** Every worker's metrics merged, with the totals of generations gone. */
  metrics(): Promise<MetricSample[]>;
  /**
   * Checks the configuration again (from its file, or the same object), or `config` in
   * its place, and serves it. Rejects with a `ConfigError` listing the problems when it
   * has errors, the serving generation still serving. A master reloads its file only.
   */
  reload(config?: object): Promise<void>;
  /** Stops accepting and lets work in flight finish (hard after `hard_stop_after`); resolves once stopped. */
  close(): Promise<void>;
  /** Ends every connection now. */
  kill(): Promise<void>;
  /** Resolves once stopped, whoever stopped it (close, kill, a signal, the control socket). */
  readonly closed: Promise<void>;
}

/** A configuration with errors: every problem found (warnings too), each saying where. */
export class ConfigError extends Error {
  constructor(
    /** The configuration file, or the label of an object configuration. */
    readonly file: string,
    readonly problems: Problem[],
  ) {
    super(
      `${file} has errors:\n${problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .join('\n')}`,
    );
    this.name = 'ConfigError';
  }
}

/** The kernel's gateway behind each handle served alone, for `gatewayOf`. */
const gateways = new WeakMap<RunningGateway, Gateway>();

/**
 * The kernel's gateway serving behind `running` in this process; undefined for a master.
 * For the test harness (sdk/testing.ts), which reads what the handle does not tell: the
 * configuration served, `explain`, the generations retiring. Not part of the package's exports.
 */
export function gatewayOf(running: RunningGateway): Gateway | undefined {
  return gateways.get(running);
}

export async function serve(o: ServeOptions): Promise<RunningGateway> {
  const signals = o.signals ? catchSignals() : undefined;
  try {
    return await start(o, signals);
  } catch (err) {
    signals?.release();
    throw err;
  }
}

async function start(o: ServeOptions, signals: Signals | undefined): Promise<RunningGateway> {
  const sourceOf = (config: string | object): string | ConfigSource => (typeof config === 'string' ? config : objectSource(config, o.dir ?? process.cwd()));
  const first = await checkConfig(sourceOf(o.config), { builtins: o.plugins, logger: createLogger(o.logLevel ?? 'info'), keep: true, now: o.now });
  if (!first.ok || !first.generation || !first.config) throw new ConfigError(first.source.file, first.problems);
  const config = first.config;
  const logger = createLogger(o.logLevel ?? config.log.level);
  if (!o.workers || config.workers === 0) return serveAlone(o, first.generation, config, logger, signals, sourceOf);
  // The master only checks; each worker builds its own generation, from the file.
  await first.generation.dispose();
  if (o.take) throw new Error("take cannot reach a master's workers, which are processes of their own");
  if (typeof o.config !== 'string') throw new Error('a master needs a configuration file, which its workers read: give one, or set workers: 0');
  return serveMaster(first.source, o, o.workers, config, logger, signals);
}

async function serveAlone(
  o: ServeOptions,
  generation: Generation,
  config: GatewayConfig,
  logger: Logger,
  signals: Signals | undefined,
  sourceOf: (config: string | object) => string | ConfigSource,
): Promise<RunningGateway> {
  if (o.take) generation.take = o.take;
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(generation, {
      logger,
      accessLog: o.accessLog ?? createAccessLog(config.log.access, config.log.sample, Math.random, accessLogDrops(logger)),
      reload: () => reloads.request(),
    });
  } catch (err) {
    await generation.dispose();
    throw new Error(`cannot listen: ${(err as Error).message}`);
  }

  let stopped!: () => void;
  const closed = new Promise<void>((resolve) => (stopped = resolve));
  let stopping = false;
  const stop = async (hard: boolean) => {
    if (stopping && !hard) return closed;
    stopping = true;
    await (hard ? gateway.kill() : gateway.stop(config.hard_stop_after));
    logger.flush();
    signals?.release();
    stopped();
  };

  let nextId = generation.id + 1;
  let current = o.config;
  let wanted: object | undefined;
  // Asked while one runs, a reload is done once more after it, for every request meanwhile; the latest config asked wins.
  const reloads = new Coalesced(async (): Promise<ReloadReply> => {
    const source = wanted ?? current;
    wanted = undefined;
    const next = await checkConfig(sourceOf(source), { builtins: o.plugins, logger, keep: true, generationId: nextId++, now: o.now });
    if (!next.ok || !next.generation || !next.config) {
      logger.error({ problems: next.problems }, 'reload refused: the configuration has errors; the current generation keeps serving');
      return { ok: false, problems: next.problems };
    }
    if (o.take) next.generation.take = o.take;
    try {
      await gateway.swap(next.generation, config.hard_stop_after);
      config = next.config;
      current = source;
      logger.info({ generation: next.generation.id }, 'reloaded');
      return { ok: true, generation: next.generation.id };
    } catch (err) {
      await next.generation.dispose();
      logger.error({ err }, 'reload failed; the current generation keeps serving');
      return { ok: false, error: (err as Error).message };
    }
  });
  const reload = async (config?: object) => {
    if (stopping) throw new Error('the gateway is stopping');
    if (config) wanted = config;
    const asked = config ?? current;
    failed(typeof asked === 'string' ? resolve(asked) : objectLabel, await reloads.request());
  };
  signals?.serve({ reload: () => void reloads.request(), stop: (hard) => void stop(hard) });
  logger.info({ generation: generation.id, workers: 0, frontends: describeBinds(config) }, 'tapgate serving');
  const running: RunningGateway = {
    port: (frontend = firstFrontend(gateway.generation.config), n = 0) => gateway.port(frontend, n),
    get statsPort() {
      return gateway.statsPort;
    },
    get generation() {
      return gateway.generation.id;
    },
    metrics: async () => gateway.metrics(),
    reload,
    close: () => stop(false),
    kill: () => stop(true),
    closed,
  };
  gateways.set(running, gateway);
  return running;
}

async function serveMaster(
  source: ConfigSource,
  o: ServeOptions,
  worker: WorkerEntry,
  config: GatewayConfig,
  logger: Logger,
  signals: Signals | undefined,
): Promise<RunningGateway> {
  const master = new Master(source.file, logger, { plugins: o.plugins, worker });
  try {
    // Its workers serve the text checked here, even if the file changes meanwhile.
    await master.start(config, source.text);
  } catch (err) {
    await master.stop(true);
    throw err;
  }
  const closed = master.stopped.then(() => {
    logger.info('stopped');
    logger.flush();
    signals?.release();
  });
  signals?.serve({ reload: () => void master.reload(), stop: (hard) => void master.stop(hard) });
  const status = master.status();
  logger.info({ generation: status.generation, workers: status.workers.length, frontends: describeBinds(config) }, 'tapgate serving');
  const ports = () => {
    const known = master.ports();
    if (!known) throw new Error('no worker is serving');
    return known;
  };
  return {
    port: (frontend, n = 0) => {
      const frontends = ports().frontends;
      const name = frontend ?? Object.keys(frontends)[0]!;
      const port = frontends[name]?.[n];
      if (port === undefined) throw new Error(`no listener for frontend ${name}`);
      return port;
    },
    get statsPort() {
      return master.ports()?.stats;
    },
    get generation() {
      return master.status().generation;
    },
    metrics: () => master.metrics(),
    reload: async (config?: object) => {
      if (config) throw new Error('a master reloads its configuration file: write the new configuration there');
      failed(source.file, await master.reload());
    },
    close: async () => {
      await master.stop(false);
      await closed;
    },
    kill: async () => {
      await master.stop(true);
      await closed;
    },
    closed,
  };
}

/** Throws what a refused reload says: its problems, or its error. */
function failed(file: string, reply: ReloadReply): void {
  if (reply.ok) return;
  if (reply.problems?.some((p) => p.severity === 'error')) throw new ConfigError(file, reply.problems);
  throw new Error(`reload failed: ${reply.error ?? reply.problems?.map(formatProblem).join('\n')}`);
}

function firstFrontend(config: GatewayConfig): string {
  return Object.keys(config.frontends)[0]!;
}

function describeBinds(config: GatewayConfig): string[] {
  return Object.entries(config.frontends).map(
    ([name, fe]) => `${name} (${fe.mode}) ${fe.bind ? `on ${[fe.bind].flat().join(', ')}` : 'without a port (handed connections)'}`,
  );
}

/** What the signals act on once the gateway serves. */
interface Served {
  reload(): void;
  stop(hard: boolean): void;
}

interface Signals {
  /** The gateway serves: act on it from now on (and on what arrived before). */
  serve(served: Served): void;
  /** Stopped: the signals are left to whoever else listens, or their defaults. */
  release(): void;
}

/**
 * Handles signals from before the configuration is read. Left to their default, SIGHUP
 * and SIGUSR2 end the process, and a master is within reach before it serves: its parent
 * knows its pid, and its first worker takes connections while the others start. What
 * arrives before the gateway serves is kept for it: one reload however many signals
 * asked, or a stop; a second SIGINT before then ends the process at once (orphaned
 * workers leave on their own).
 */
function catchSignals(): Signals {
  let served: Served | undefined;
  let reload = false;
  let stop = false;
  let interrupts = 0;
  const onReload = () => (served ? served.reload() : (reload = true));
  const onStop = (hard: boolean) => {
    if (served) served.stop(hard);
    else if (hard) process.exit(130);
    else stop = true;
  };
  const onTerm = () => onStop(false);
  const onInt = () => onStop(++interrupts > 1);
  process.on('SIGHUP', onReload);
  process.on('SIGUSR2', onReload);
  process.on('SIGTERM', onTerm);
  process.on('SIGINT', onInt);
  return {
    serve: (gateway) => {
      served = gateway;
      if (stop) gateway.stop(false);
      else if (reload) gateway.reload();
    },
    release: () => {
      process.off('SIGHUP', onReload);
      process.off('SIGUSR2', onReload);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
    },
  };
}
