// A worker process: builds its generation from the config, listens through the
// master's shared sockets (node:cluster), serves, and drains or dies when told.
import cluster from 'node:cluster';
import { checkConfig } from '../config/check.ts';
import { accessLogDrops, createAccessLog, createLogger } from '../log.ts';
import { Gateway } from '../gateway.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import type { AdminQuestion, FromWorker, ToWorker } from './messages.ts';
import type { AdminEnv } from '../admin.ts';
import { retained } from '../../sdk/metrics.ts';
import type { TakeOptions, TakeResult } from '../../sdk/index.ts';

const send = (m: FromWorker) => process.send?.(m);

/** The stats listener of a worker asks the master, which sees every worker. */
function masterAdmin(): {
  env: AdminEnv;
  broadcast(topic: string, data: unknown): Promise<unknown[]>;
  take(key: string, options: TakeOptions): Promise<TakeResult>;
  answered(id: number, result: unknown): void;
} {
  let next = 0;
  const pending = new Map<number, (result: unknown) => void>();
  const ask = <T>(q: AdminQuestion) =>
    new Promise<T>((resolve) => {
      const id = ++next;
      pending.set(id, resolve as (r: unknown) => void);
      send({ type: 'admin', id, ...q });
    });
  return {
    env: {
      metrics: () => ask({ op: 'metrics' }),
      status: () => ask({ op: 'status' }),
      setServer: (change) => ask({ op: 'setServer', change }),
      reload: () => ask({ op: 'reload' }),
    },
    broadcast: (topic: string, data: unknown) => ask<unknown[]>({ op: 'broadcast', topic, data }),
    take: (key: string, options: TakeOptions) => ask<TakeResult>({ op: 'take', key, options }),
    answered: (id, result) => {
      pending.get(id)?.(result);
      pending.delete(id);
    },
  };
}

/**
 * Serves the generation the master asked for (TAPGATE_CONFIG, TAPGATE_GENERATION) with
 * `plugins` (the built-ins) until told to stop; resolves with the exit code. The entry
 * (entry/worker.ts) hands the plugins in and ends the process.
 */
export async function runWorker(plugins: ReadonlyMap<string, AnyPluginDefinition>): Promise<number> {
  const file = process.env.TAPGATE_CONFIG!;
  const generationId = Number(process.env.TAPGATE_GENERATION);
  // A terminal's Ctrl-C and SIGHUP reach the whole process group: only the master decides.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGUSR2', () => undefined);
  // A message to a master that is gone fails (EPIPE); unhandled, that would end this worker
  // with a stack trace. 'disconnect' is what to act on.
  cluster.worker?.on('error', () => undefined);
  // Gone before we serve: nobody will ever be sent here, and nothing is in flight.
  const orphaned = () => process.exit(1);
  process.once('disconnect', orphaned);

  let logger = createLogger('info');
  const result = await checkConfig(file, { builtins: plugins, logger, keep: true, generationId });
  if (!result.ok || !result.generation || !result.config) {
    send({ type: 'failed', generation: generationId, problems: result.problems });
    return 1;
  }
  const config = result.config;
  logger = createLogger(config.log.level);
  let gateway: Gateway;
  const admin = masterAdmin();
  // Plugins' broadcasts go through the master to every worker.
  result.generation.broadcast = admin.broadcast;
  result.generation.take = admin.take;
  try {
    gateway = await Gateway.start(result.generation, {
      logger,
      accessLog: createAccessLog(config.log.access, config.log.sample, Math.random, accessLogDrops(logger)),
      admin: admin.env,
    });
  } catch (err) {
    await result.generation.dispose();
    send({ type: 'failed', generation: generationId, problems: [{ severity: 'error', file, path: '', message: `cannot listen: ${(err as Error).message}` }] });
    return 1;
  }
  const ports = Object.fromEntries([...result.generation.frontends.values()].map((fe) => [fe.name, fe.binds.map((_, n) => gateway.port(fe.name, n))]));
  send({ type: 'ready', generation: generationId, ports, statsPort: gateway.statsPort });
  process.off('disconnect', orphaned);

  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (hard: boolean, hardAfter = config.hard_stop_after) => {
      if (stopping && !hard) return;
      stopping = true;
      void (hard ? gateway.kill() : gateway.stop(hardAfter)).then(() => {
        logger.flush();
        // The totals kept across reloads need what this worker counted; exit once the master has it.
        const final: FromWorker = { type: 'final', metrics: retained(gateway.metrics()) };
        if (process.connected) process.send!(final, undefined, {}, () => resolve(0));
        else resolve(0);
      });
    };
    process.on('message', (m: ToWorker) => {
      if (m.type === 'drain') {
        // stop() closes the listeners before its first await: from here on we accept nothing.
        stop(false, m.hardAfter);
        send({ type: 'draining', generation: generationId });
      } else if (m.type === 'kill') stop(true);
      else if (m.type === 'collect') send({ type: 'collected', id: m.id, metrics: gateway.metrics() });
      else if (m.type === 'set-server') send({ type: 'changed', id: m.id, result: gateway.setServer(m.change) });
      else if (m.type === 'admin-reply') admin.answered(m.id, m.result);
      else if (m.type === 'deliver') {
        void gateway.generation.deliver(m.topic, m.data).then(
          (result) => send({ type: 'delivered', id: m.id, result }),
          (err) => {
            gateway.generation.report({ hook: 'app.message', error: err });
            send({ type: 'delivered', id: m.id, result: undefined });
          },
        );
      }
    });
    process.on('SIGTERM', () => stop(false));
    // The master is gone: nobody will tell us to stop, so stop now, gracefully.
    process.on('disconnect', () => stop(false));
  });
}
