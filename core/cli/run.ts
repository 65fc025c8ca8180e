// `tapgate run -c FILE`: check, build the first generation, bind, serve.
import { parseArgs } from 'node:util';
import { checkConfig } from '../config/check.ts';
import { createAccessLog, createLogger } from '../log.ts';
import { Gateway } from '../gateway.ts';
import { builtins } from '../../plugins/index.ts';
import { renderProblems } from './check.ts';

export async function run(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } } });
  if (!values.config) {
    process.stderr.write('tapgate run: -c FILE is required\n');
    return 2;
  }
  const file = values.config;
  let logger = createLogger('info');
  let nextId = 1;
  const result = await checkConfig(file, { builtins, logger, keep: true, generationId: nextId++ });
  if (!result.ok || !result.generation || !result.config) {
    process.stderr.write(renderProblems(result.problems, result.source.file, false));
    return 1;
  }
  logger = createLogger(result.config.log.level);
  let config = result.config;
  let gateway: Gateway;
  try {
    gateway = await Gateway.start(result.generation, { logger, accessLog: createAccessLog(config.log.access) });
  } catch (err) {
    await result.generation.dispose();
    process.stderr.write(`tapgate: cannot listen: ${(err as Error).message}\n`);
    return 1;
  }
  const binds = [...result.generation.frontends.values()].map((fe) => `${fe.name} (${fe.mode}) on ${fe.binds.map((b) => `${b.host}:${b.port}`).join(', ')}`);
  logger.info({ generation: result.generation.id, frontends: binds }, 'tapgate serving');

  let reloading = Promise.resolve();
  const reload = () => {
    reloading = reloading.then(async () => {
      const next = await checkConfig(file, { builtins, logger, keep: true, generationId: nextId++ });
      if (!next.ok || !next.generation || !next.config) {
        logger.error({ problems: next.problems }, 'reload refused: the configuration has errors; the current generation keeps serving');
        return;
      }
      try {
        await gateway.swap(next.generation, config.hard_stop_after);
        config = next.config;
        logger.info({ generation: next.generation.id }, 'reloaded');
      } catch (err) {
        await next.generation.dispose();
        logger.error({ err }, 'reload failed; the current generation keeps serving');
      }
    });
  };

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (hard: boolean) => {
      if (stopping && !hard) return;
      const wasStopping = stopping;
      stopping = true;
      logger.info({ hard: hard || wasStopping }, 'stopping');
      void (hard || wasStopping ? gateway.kill() : gateway.stop(config.hard_stop_after)).then(() => {
        logger.flush();
        resolve(0);
      });
    };
    process.on('SIGTERM', () => stop(false));
    process.on('SIGINT', () => stop(stopping));
    process.on('SIGHUP', reload);
  });
}
