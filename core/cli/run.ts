// `tapgate run -c FILE`: check, then serve: a master with workers, or (with
// `workers: 0` or `--single`) one in-process worker for development.
import { parseArgs } from 'node:util';
import { checkConfig } from '../config/check.ts';
import { createAccessLog, createLogger, type Logger } from '../log.ts';
import { Gateway } from '../gateway.ts';
import { Master, type MasterOptions } from '../master/master.ts';
import { Coalesced } from '../master/coalesced.ts';
import type { ReloadReply } from '../master/messages.ts';
import type { GatewayConfig } from '../config/schema.ts';
import type { Generation } from '../generation.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import { renderProblems } from './check.ts';
import type { CliWiring } from './main.ts';

export async function run(argv: string[], wiring: CliWiring): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, single: { type: 'boolean', default: false } } });
  if (!values.config) {
    process.stderr.write('tapgate run: -c FILE is required\n');
    return 2;
  }
  const file = values.config;
  const serving = catchSignals();
  const builtins = await wiring.builtins();
  const result = await checkConfig(file, { builtins, logger: createLogger('info'), keep: true });
  if (!result.ok || !result.generation || !result.config) {
    process.stderr.write(renderProblems(result.problems, result.source.file, false));
    return 1;
  }
  const config = result.config;
  const logger = createLogger(config.log.level);
  if (values.single || config.workers === 0) return runSingle(file, config, result.generation, builtins, logger, serving);
  // The master only checks; each worker builds its own generation.
  await result.generation.dispose();
  return runMaster(file, config, { plugins: builtins, worker: wiring.worker }, logger, serving);
}

/** What the signals act on once the gateway serves. */
interface Served {
  reload(): void;
  stop(hard: boolean): void;
}

/**
 * Handles the signals from run's first line. Left to their default, SIGHUP and SIGUSR2
 * end the process, and a master is within reach before it serves: its parent knows its
 * pid, and its first worker takes connections while the others start. What arrives
 * before the gateway serves is kept for it: one reload however many signals asked, or a
 * stop; a second SIGINT before then ends the process at once (orphaned workers leave
 * on their own). Returns the call that says the gateway serves.
 */
function catchSignals(): (served: Served) => void {
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
  process.on('SIGHUP', onReload);
  process.on('SIGUSR2', onReload);
  process.on('SIGTERM', () => onStop(false));
  process.on('SIGINT', () => onStop(++interrupts > 1));
  return (gateway) => {
    served = gateway;
    if (stop) gateway.stop(false);
    else if (reload) gateway.reload();
  };
}

async function runMaster(file: string, config: GatewayConfig, options: MasterOptions, logger: Logger, serving: (served: Served) => void): Promise<number> {
  const master = new Master(file, logger, options);
  try {
    await master.start(config);
  } catch (err) {
    process.stderr.write(`tapgate: ${(err as Error).message}\n`);
    await master.stop(true);
    return 1;
  }
  const status = master.status();
  serving({
    reload: () =>
      void master.reload().then((r) => {
        if (!r.ok) process.stderr.write(renderProblems(r.problems ?? [], file, false));
      }),
    stop: (hard) => void master.stop(hard),
  });
  logger.info({ generation: status.generation, workers: status.workers.length, frontends: describeBinds(config) }, 'tapgate serving');
  await master.stopped;
  logger.info('stopped');
  logger.flush();
  return 0;
}

async function runSingle(
  file: string,
  config: GatewayConfig,
  generation: Generation,
  builtins: ReadonlyMap<string, AnyPluginDefinition>,
  logger: Logger,
  serving: (served: Served) => void,
): Promise<number> {
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(generation, { logger, accessLog: createAccessLog(config.log.access, config.log.sample), reload: () => reloads.request() });
  } catch (err) {
    await generation.dispose();
    process.stderr.write(`tapgate: cannot listen: ${(err as Error).message}\n`);
    return 1;
  }

  let nextId = generation.id + 1;
  // Asked while one runs, a reload is done once more after it, for every request meanwhile.
  const reloads = new Coalesced(async (): Promise<ReloadReply> => {
    const next = await checkConfig(file, { builtins, logger, keep: true, generationId: nextId++ });
    if (!next.ok || !next.generation || !next.config) {
      logger.error({ problems: next.problems }, 'reload refused: the configuration has errors; the current generation keeps serving');
      return { ok: false, problems: next.problems };
    }
    try {
      await gateway.swap(next.generation, config.hard_stop_after);
      config = next.config;
      logger.info({ generation: next.generation.id }, 'reloaded');
      return { ok: true, generation: next.generation.id };
    } catch (err) {
      await next.generation.dispose();
      logger.error({ err }, 'reload failed; the current generation keeps serving');
      return { ok: false, error: (err as Error).message };
    }
  });

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (hard: boolean) => {
      if (stopping && !hard) return;
      stopping = true;
      void (hard ? gateway.kill() : gateway.stop(config.hard_stop_after)).then(() => {
        logger.flush();
        resolve(0);
      });
    };
    serving({ reload: () => void reloads.request(), stop });
    logger.info({ generation: generation.id, workers: 0, frontends: describeBinds(config) }, 'tapgate serving');
  });
}

function describeBinds(config: GatewayConfig): string[] {
  return Object.entries(config.frontends).map(([name, fe]) => `${name} (${fe.mode}) ${fe.bind ? `on ${[fe.bind].flat().join(', ')}` : 'without a port (handed connections)'}`);
}
