// A worker process: builds its generation from the config, listens through the
// master's shared sockets (node:cluster), serves, and drains or dies when told.
import cluster from 'node:cluster';
import { checkConfig, type CheckResult } from '../config/check.ts';
import { readConfig } from '../config/source.ts';
import { handOver } from '../compile.ts';
import { accessLogDrops, createAccessLog, createLogger } from '../log.ts';
import { Gateway } from '../gateway.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import type { AdminQuestion, FromWorker, ToWorker } from './messages.ts';
import type { AdminEnv } from '../admin.ts';
import { retained } from '../../sdk/metrics.ts';
import type { TakeOptions, TakeResult } from '../../sdk/index.ts';
import type { Grant } from '../rate-windows.ts';
import { LeasedTakes } from './leased-takes.ts';

const send = (m: FromWorker) => process.send?.(m);

/** The stats listener of a worker asks the master, which sees every worker. */
function masterAdmin(): {
  env: AdminEnv;
  broadcast(topic: string, data: unknown): Promise<unknown[]>;
  take(key: string, options: TakeOptions): Promise<TakeResult>;
  leases: LeasedTakes;
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
  // api.take spends what the master leased, and asks it only when that runs out.
  const leases = new LeasedTakes((key, options, returned) => ask<Grant>({ op: 'take', key, options, returned }));
  return {
    env: {
      metrics: () => ask({ op: 'metrics' }),
      status: () => ask({ op: 'status' }),
      setServer: (change) => ask({ op: 'setServer', change }),
      reload: () => ask({ op: 'reload' }),
    },
    broadcast: (topic: string, data: unknown) => ask<unknown[]>({ op: 'broadcast', topic, data }),
    take: (key: string, options: TakeOptions) => leases.take(key, options),
    leases,
    answered: (id, result) => {
      pending.get(id)?.(result);
      pending.delete(id);
    },
  };
}

/**
 * Serves the generation the master asked for (TAPGATE_CONFIG, TAPGATE_GENERATION; the text
 * it checked, TAPGATE_CHECKED, read in place of the file) with
 * `plugins` (the built-ins) until told to stop; resolves with the exit code. The entry
 * (entry/worker.ts) hands the plugins in and ends the process.
 */
export async function runWorker(plugins: ReadonlyMap<string, AnyPluginDefinition>): Promise<number> {
  const file = process.env.TAPGATE_CONFIG!;
  let generationId = Number(process.env.TAPGATE_GENERATION);
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
  const result = await checkConfig(await readConfig(file, process.env.TAPGATE_CHECKED), { builtins: plugins, logger, keep: true, generationId });
  if (!result.ok || !result.generation || !result.config) {
    send({ type: 'failed', generation: generationId, problems: result.problems });
    return 1;
  }
  let config = result.config;
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

  // Generations built for a reload in place, waiting for commit or abort; and those aborted while still being built.
  const prepared = new Map<number, CheckResult>();
  const aborted = new Set<number>();
  const prepare = async (generation: number, compiled: { TAPGATE_COMPILED?: string }, checked: string | undefined) => {
    // The same check as at start, loading what the master compiled and read for this generation.
    handOver(compiled);
    let next: CheckResult;
    try {
      next = await checkConfig(await readConfig(file, checked), { builtins: plugins, logger, keep: true, generationId: generation });
    } catch (err) {
      aborted.delete(generation);
      return send({ type: 'prepared', generation, ok: false, problems: [{ severity: 'error', file, path: '', message: (err as Error).message }] });
    }
    if (!next.ok || !next.generation || !next.config) {
      // Aborted meanwhile (the master stopped waiting: prepare_timeout) or not, there is nothing left to drop.
      aborted.delete(generation);
      await next.generation?.dispose();
      return send({ type: 'prepared', generation, ok: false, problems: next.problems });
    }
    if (aborted.delete(generation) || stopping) return void (await next.generation.dispose());
    next.generation.broadcast = admin.broadcast;
    next.generation.take = admin.take;
    prepared.set(generation, next);
    send({ type: 'prepared', generation, ok: true, problems: [] });
  };
  const commit = async (generation: number) => {
    const next = prepared.get(generation);
    prepared.delete(generation);
    if (!next?.generation || !next.config || stopping) return send({ type: 'committed', generation, ok: false, error: 'not prepared' });
    try {
      // The old generation's requests get its own hard_stop_after, as in a reload that forks.
      await gateway.swap(next.generation, config.hard_stop_after);
    } catch (err) {
      await next.generation.dispose();
      return send({ type: 'committed', generation, ok: false, error: (err as Error).message });
    }
    config = next.config;
    generationId = generation;
    const fes = [...next.generation.frontends.values()];
    send({
      type: 'committed',
      generation,
      ok: true,
      ports: Object.fromEntries(fes.map((fe) => [fe.name, fe.binds.map((_, n) => gateway.port(fe.name, n))])),
      statsPort: gateway.statsPort,
    });
  };
  const abort = (generation: number) => {
    const next = prepared.get(generation);
    prepared.delete(generation);
    if (next) void next.generation?.dispose();
    else aborted.add(generation);
  };

  let stopping = false;
  return new Promise<number>((resolve) => {
    const stop = (hard: boolean, hardAfter = config.hard_stop_after) => {
      if (stopping && !hard) return;
      stopping = true;
      for (const g of [...prepared.keys()]) abort(g);
      void (hard ? gateway.kill() : gateway.stop(hardAfter)).then(() => {
        logger.flush();
        // The totals kept across reloads need what this worker counted; exit once the master has it.
        // And the leased units it did not spend, so they count as never taken.
        const final: FromWorker = { type: 'final', metrics: retained(gateway.metrics()), unspent: admin.leases.unspent() };
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
      else if (m.type === 'prepare') void prepare(m.generation, m.compiled, m.config);
      else if (m.type === 'commit') void commit(m.generation);
      else if (m.type === 'abort') abort(m.generation);
      else if (m.type === 'collect') send({ type: 'collected', id: m.id, metrics: gateway.metrics() });
      else if (m.type === 'set-server') send({ type: 'changed', id: m.id, result: gateway.setServer(m.change) });
      else if (m.type === 'admin-reply') admin.answered(m.id, m.result);
      else if (m.type === 'recall') send({ type: 'returned', id: m.id, returned: admin.leases.recall(m.key) });
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
