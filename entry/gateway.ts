// `startGateway`: a gateway run from code, as `tapgate run` runs one from a shell: the
// kernel's serve (core/serve.ts) given the built-in plugins, any more kept in memory, and
// where the access log and the clock come from.
import { checkDefinition, type AnyPluginDefinition } from '../core/loader.ts';
import { serve, type RunningGateway, type ServeOptions } from '../core/serve.ts';
import type { GatewayConfigInput, PluginDefinition } from '../sdk/index.ts';
import { loadBuiltins, workerEntry } from './wiring.ts';

export interface StartGatewayOptions {
  /** A configuration file (YAML, or tapgate.config.ts), or the configuration as an object (what `defineConfig` takes). */
  config: string | GatewayConfigInput;
  /** An object configuration's folder: its relative paths (plugin files, certificates) resolve against it. Default: the working folder. */
  dir?: string;
  /** More plugins, kept in memory, by the name `use:` gives them. */
  plugins?: Record<string, PluginDefinition<any>>;
  /** Whether the built-in plugins are there (default true). Without them, neither is a backend's default `balance: roundrobin`. */
  builtins?: boolean;
  /** The log level; default the configuration's `log.level`. Logs are JSON lines on stderr. */
  logLevel?: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Receives every access log entry, as an object, in place of where `log.access` says (`log.sample` does not apply). */
  accessLog?: (entry: Record<string, unknown>) => void;
  /** The plugins' clock (`api.now()`, ms): a test moves it. */
  now?: () => number;
  /**
   * Serve as the configuration says, as `tapgate run` does: this process a master forking
   * the configuration's `workers` (with `workers: 0`, it serves alone). Default: alone,
   * one worker in this process. A master's workers are processes of their own, reading
   * the configuration file with the built-ins only: `plugins`, `builtins: false`,
   * `accessLog` and `now` are refused with it, and `config` must be a file.
   */
  master?: boolean;
  /** Act on signals as `tapgate run` does: SIGHUP and SIGUSR2 reload, SIGTERM and SIGINT stop gracefully, a second SIGINT at once. */
  signals?: boolean;
}

/**
 * Checks the configuration and serves it; rejects with a `ConfigError` listing every
 * problem when it has errors, or an error saying why it cannot listen.
 */
export async function startGateway(options: StartGatewayOptions): Promise<RunningGateway> {
  return startGatewayWith(options, {});
}

/**
 * `startGateway`, given as well what only the test harness (sdk/testing.ts) gives the
 * kernel. Not part of the package's exports.
 */
export async function startGatewayWith(options: StartGatewayOptions, internal: Pick<ServeOptions, 'take'>): Promise<RunningGateway> {
  if (options.master) {
    const refused = [
      options.plugins && 'plugins',
      options.builtins === false && 'builtins: false',
      options.accessLog && 'accessLog',
      options.now && 'now',
    ].filter(Boolean);
    if (refused.length)
      throw new Error(
        `startGateway: ${refused.join(', ')} cannot reach a master's workers, which are processes of their own; leave out master to serve in this process`,
      );
  }
  const plugins = new Map<string, AnyPluginDefinition>(options.builtins === false ? [] : await loadBuiltins());
  for (const [use, definition] of Object.entries(options.plugins ?? {})) plugins.set(use, checkDefinition(definition, use));
  const write = options.accessLog;
  return serve({
    config: options.config,
    dir: options.dir,
    plugins,
    logLevel: options.logLevel,
    accessLog: write && { write: (entry) => write(entry as Record<string, unknown>), flush: () => {}, close: async () => {} },
    now: options.now,
    workers: options.master ? workerEntry : undefined,
    signals: options.signals,
    take: internal.take,
  });
}
