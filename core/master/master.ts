// The master: owns the listening sockets (through node:cluster, which keeps a port's
// handle open while any worker listens on it), starts a generation of workers, and
// reloads by starting the next generation beside the old one: new workers listen on
// the same handles, report ready, and only then are the old told to drain. No
// listening socket closes during a reload, so no connection is refused. Reloads asked
// while one runs are done once more after it, together. A serving worker that dies is
// replaced at once (the others keep the port meanwhile); only a replacement that cannot
// start waits before the next try.
import cluster, { type Worker } from 'node:cluster';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { availableParallelism } from 'node:os';
import { basename, dirname, extname, join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { checkConfig } from '../config/check.ts';
import { cacheDir, contentHash } from '../config/source.ts';
import { compiledEnv, compiledFiles } from '../compile.ts';
import type { GatewayConfig } from '../../sdk/config.ts';
import type { Problem } from '../config/problems.ts';
import { formatAddress, parseAddress } from '../../sdk/units.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import type { AdminQuestion, FromWorker, ReloadReply, StatusReply, ToWorker, WorkerStatus } from './messages.ts';
import type { ServerChange, WorkerDeaths } from '../../sdk/admin.ts';
import { MetricsRegistry } from '../metrics.ts';
import { mergeSnapshots, withTotals, type MetricSample } from '../../sdk/metrics.ts';
import { LeaseBroker, type Returned } from './leases.ts';
import { Coalesced } from './coalesced.ts';
import { ControlServer } from './control.ts';
import { planChanges, pluginSourceHashes } from './plan.ts';

/**
 * How the master starts a worker process, given by the entry point (entry/wiring.ts):
 * cluster runs `execPath exec ...args`, a process that serves with the same plugins as
 * the master checks with.
 */
export interface WorkerEntry {
  exec: string;
  args: string[];
  /** A module that is a worker process by itself (entry/worker.ts): prebundled into one JavaScript file and run in place of `exec`, which starts faster. */
  bundle?: string;
}

export interface MasterOptions {
  /** The plugins configs are checked with: those the workers have (the built-ins). */
  plugins: ReadonlyMap<string, AnyPluginDefinition>;
  worker: WorkerEntry;
}

interface WorkerRecord {
  worker: Worker;
  generation: number;
  state: WorkerStatus['state'];
  since: Date;
  /** Told to go, or going by itself after saying why it cannot start: its exit is no death. */
  leaving: boolean;
  /** Retired while still starting: drained, with this hard_stop_after, as soon as it is ready. */
  drainWhenReady?: number;
  /** Its final metrics are in the totals: its live ones no longer count. */
  final: boolean;
  /** What it said when ready. */
  ports?: WorkerPorts;
}

/** Where a ready worker listens: each frontend's ports in `bind` order (what port 0 binds got), and the stats listener's. */
export interface WorkerPorts {
  frontends: Record<string, number[]>;
  stats: number | undefined;
}

/**
 * Reloads in place that may load new plugin code before the workers are replaced by new
 * processes: a worker cannot unload an ES module, so each changed plugin (or config module)
 * stays in its memory, and a gateway whose plugins are edited and reloaded all day would grow
 * without end. New processes start empty; reloads that load no new code do not count.
 */
export const CODE_RELOADS_IN_PLACE = 16;

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export class Master {
  /** The last generation number given out. */
  #lastGeneration = 0;
  /**
   * What the check of each live generation compiled (core/compile.ts) and the config text it
   * read (a copy, `#checkedCopy`), handed to its workers: a worker serves what was checked,
   * even if a file changed since.
   */
  readonly #compiled = new Map<number, { TAPGATE_COMPILED?: string; TAPGATE_CHECKED?: string }>();
  /** The copies of checked config texts this master wrote, removed once no live generation has them. */
  readonly #copies = new Set<string>();
  /** The generation serving new connections (0 until the first serves), and its config (the first's while it starts). */
  #serving = 0;
  #config!: GatewayConfig;
  /** The generation a reload is starting, until it serves or is given up. */
  #starting: number | undefined;
  #pluginHashes = new Map<string, string>();
  /** Compiled modules the workers have loaded since they were forked, and how many reloads in place brought new ones. */
  #loadedModules = new Set<string>();
  #codeReloads = 0;
  readonly #workers = new Map<number, WorkerRecord>();
  #control: ControlServer | undefined;
  readonly #reloads = new Coalesced(() => this.#reload(false));
  /** Replacements in a row that could not start: the next try waits 100 ms × 2^n (30 s at most). */
  #failedStarts = 0;
  #stopping = false;
  /** The master's own metrics: worker deaths and restarts. */
  readonly #metrics = new MetricsRegistry();
  readonly #deathCount = this.#metrics.counter(
    'worker_deaths_total',
    'Workers that exited without being told to, by reason (the signal, or exit and its code) and the state they were in (starting, ready)',
  );
  readonly #restarts = this.#metrics.counter('worker_restarts_total', 'Workers started in place of one that died');
  #deaths: WorkerDeaths = { total: 0, last: null };
  readonly #started = Date.now();
  /** Counters and histograms of workers gone (reloads, stops): totals survive them. */
  #retiredMetrics: MetricSample[] = [];
  /** Run-time server changes (admin API), given to every worker started after them. */
  readonly #overrides = new Map<string, ServerChange>();
  readonly #takeMessages = this.#metrics.counter(
    'take_messages_total',
    'Messages between the master and its workers for api.take: asks and their answers, recalls and what they hand back',
  );
  /** Rate limits shared by every worker, kept across reloads: leased to the workers in shares (leases.ts). */
  readonly #leases = new LeaseBroker(
    (id, key) => this.#recall(id, key),
    () => [...this.#workers.values()].filter((r) => r.generation === this.#serving && r.state === 'ready').length,
  );
  #asked = 0;
  readonly #answers = new Map<number, (m: FromWorker) => void>();
  #stopped!: () => void;
  readonly stopped = new Promise<void>((r) => (this.#stopped = r));

  constructor(
    readonly file: string,
    private readonly logger: Logger,
    private readonly options: MasterOptions,
  ) {
    // Workers accept on the shared listening socket themselves (the master does not
    // accept and hand connections over IPC, which costs a round trip per connection).
    // The master keeps its handle, so the socket stays open across generations.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.setupPrimary({ exec: options.worker.exec, args: options.worker.args });
    this.#restarts.inc(undefined, 0);
    this.#takeMessages.inc(undefined, 0);
  }

  #workerEnv: Record<string, string> = {};
  /** Marks the prebundled worker as in use before a fork (see staleBundleMs in worker-bundle.ts). */
  #touchBundle: () => void = () => undefined;

  /** Starts the first generation (`config`, checked from `text`) and opens the control socket; a reload asked meanwhile runs once it serves. */
  start(config: GatewayConfig, text?: string): Promise<void> {
    return this.#reloads.hold(this.#start(config, text));
  }

  async #start(config: GatewayConfig, text: string | undefined): Promise<void> {
    // Until the first generation serves, stopping (it failed to start) reads this one.
    this.#config = config;
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    // The binary is its own bundle and forks itself: its entry gives nothing to prebundle.
    if (this.options.worker.bundle) {
      try {
        const { bundleWorker, touchBundle } = await import('./worker-bundle.ts');
        const bundle = await bundleWorker(this.options.worker.bundle);
        cluster.setupPrimary({ exec: bundle.exec, args: [] });
        this.#workerEnv = bundle.env;
        this.#touchBundle = () => touchBundle(bundle);
      } catch (err) {
        // A read-only installation: workers start as the entry says (from the sources, through tsx), only slower.
        this.logger.warn({ err: (err as Error).message }, 'cannot prebundle the worker; workers start from the sources');
      }
    }
    const started = await this.#startGeneration(config, this.#checkedCopy(text));
    if (!started.ok) throw new Error(started.problems.map((p) => p.message).join('\n'));
    this.#serve(started.generation, config);
    const dir = dirname(resolve(this.file));
    this.#pluginHashes = pluginSourceHashes(config, dir);
    const pidFile = resolve(dir, config.control.pid_file);
    mkdirSync(dirname(pidFile), { recursive: true });
    writeFileSync(pidFile, `${process.pid}\n`);
    this.#control = new ControlServer(resolve(dir, config.control.socket), this.logger, {
      reload: (plan) => this.reload(plan),
      stop: (hard) => this.stop(hard),
      status: () => this.status(),
    });
    await this.#control.listen();
  }

  #workerCount(config: GatewayConfig): number {
    return config.workers === 'auto' ? availableParallelism() : Math.max(1, config.workers);
  }

  /**
   * Forks a generation of workers; resolves once every one is ready, or has failed or
   * died. On a failure the others are drained (they may have taken connections already).
   */
  async #startGeneration(config: GatewayConfig, checked: string | undefined): Promise<{ ok: true; generation: number } | { ok: false; problems: Problem[] }> {
    if (this.#stopping) return { ok: false, problems: [{ severity: 'error', file: this.file, path: '', message: 'the gateway is stopping' }] };
    const generation = ++this.#lastGeneration;
    this.#starting = generation;
    // Its workers, and any that replace them, load what this check compiled and read.
    this.#compiled.set(generation, { ...compiledEnv(), ...(checked && { TAPGATE_CHECKED: checked }) });
    const modules = new Set(compiledFiles().values());
    const n = this.#workerCount(config);
    const forked = Array.from({ length: n }, () => this.#fork(generation));
    const results = await Promise.all(forked.map((r) => this.#readiness(r)));
    const failed = results.find((r) => r !== true);
    if (failed) {
      this.#starting = undefined;
      // Replacements of its workers that died meanwhile too.
      for (const r of [...this.#workers.values()]) if (r.generation === generation && !r.leaving) void this.#retire(r, config.hard_stop_after);
      return { ok: false, problems: failed as Problem[] };
    }
    this.#loadedModules = modules;
    this.#codeReloads = 0;
    return { ok: true, generation };
  }

  /** `generation` (started) serves new connections from now on. */
  #serve(generation: number, config: GatewayConfig): void {
    for (const older of this.#compiled.keys()) if (older < generation) this.#compiled.delete(older);
    this.#dropCopies();
    this.#serving = generation;
    this.#starting = undefined;
    this.#config = config;
  }

  /**
   * A copy of the config text a check read, for the workers of its generation to read in
   * place of the file (TAPGATE_CHECKED, or `prepare`'s `config`): a worker started later (a
   * replacement) or reloading in place then serves what was checked, never a file edited
   * or half-written since. A file, not the text itself: an environment variable holds
   * 128 KiB at most on Linux, and a worker reads it whenever it starts, without asking.
   * Named by its content, written beside and renamed into place (never read half-written),
   * in the cache folder beside the config. Undefined for a TypeScript configuration (its
   * workers load the module the master compiled) or when it cannot be written (the
   * workers then read the file, as it is then).
   */
  #checkedCopy(text: string | undefined): string | undefined {
    if (text === undefined) return undefined;
    const file = resolve(this.file);
    try {
      const copy = join(cacheDir(dirname(file)), `${basename(file, extname(file))}-checked-${contentHash(text)}${extname(file)}`);
      if (!existsSync(copy)) {
        writeFileSync(`${copy}.${process.pid}.tmp`, text);
        renameSync(`${copy}.${process.pid}.tmp`, copy);
      }
      this.#copies.add(copy);
      return copy;
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'cannot keep a copy of the checked configuration; workers read the file as it is when they start');
      return undefined;
    }
  }

  /** Removes the copies no live generation (nor one starting) has. */
  #dropCopies(): void {
    const used = new Set([...this.#compiled.values()].map((e) => e.TAPGATE_CHECKED));
    for (const copy of this.#copies) {
      if (used.has(copy)) continue;
      this.#copies.delete(copy);
      rmSync(copy, { force: true });
    }
  }

  /** Whether a worker of `generation` that dies is to be replaced: it serves, or is about to. */
  #live(generation: number): boolean {
    return generation === this.#serving || generation === this.#starting;
  }

  #fork(generation: number): WorkerRecord {
    this.#touchBundle();
    const worker = cluster.fork({
      NODE_OPTIONS: workerNodeOptions(process.env.NODE_OPTIONS, process.execArgv),
      ...workerMalloc(process.env),
      ...this.#workerEnv,
      ...this.#compiled.get(generation),
      TAPGATE_CONFIG: resolve(this.file),
      TAPGATE_GENERATION: String(generation),
    });
    const record: WorkerRecord = { worker, generation, state: 'starting', since: new Date(), leaving: false, final: false };
    this.#workers.set(worker.id, record);
    worker.on('message', (m: FromWorker) => this.#onMessage(record, m));
    // Unhandled, a failed write to a worker's channel (EPIPE: it is going away) would end the master. Its exit is what counts.
    worker.on('error', (err: Error) => this.logger.debug({ pid: worker.process.pid, err: err.message }, 'worker channel error'));
    return record;
  }

  #readiness(record: WorkerRecord): Promise<true | Problem[]> {
    return new Promise((resolve) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'ready') {
          record.state = 'ready';
          record.ports = { frontends: m.ports, stats: m.statsPort };
          record.since = new Date();
          if (record.drainWhenReady !== undefined) this.#drain(record, record.drainWhenReady);
          else for (const change of this.#overrides.values()) this.#send(record, { type: 'set-server', id: 0, change });
          done(true);
        } else if (m.type === 'failed') {
          // It exits by itself, having said why.
          record.leaving = true;
          done(m.problems);
        }
      };
      const onExit = (code: number | null, signal: string | null) =>
        done([
          { severity: 'error', file: this.file, path: '', message: `worker ${record.worker.process.pid} exited while starting (${signal ?? `code ${code}`})` },
        ]);
      const done = (result: true | Problem[]) => {
        record.worker.off('message', onMessage);
        record.worker.off('exit', onExit);
        resolve(result);
      };
      record.worker.on('message', onMessage);
      record.worker.once('exit', onExit);
    });
  }

  #send(record: WorkerRecord, message: ToWorker): void {
    // The channel can close between the check and the write: the callback takes that error.
    if (record.worker.isConnected()) record.worker.send(message, () => undefined);
  }

  #kill(record: WorkerRecord): void {
    record.leaving = true;
    record.worker.process.kill('SIGKILL');
  }

  /**
   * Tells a worker to drain (one still starting as soon as it is ready: it may have taken
   * connections already); it is killed at `hardAfter` (plus a grace period) if still
   * there. Resolves once it has stopped accepting (or left, or 2 s passed), so a reload
   * reports success only when new connections reach the new generation alone.
   */
  #retire(r: WorkerRecord, hardAfter: number): Promise<void> {
    r.leaving = true;
    if (!this.#workers.has(r.worker.id)) return Promise.resolve();
    const kill = setTimeout(() => r.worker.process.kill('SIGKILL'), hardAfter + 5000);
    r.worker.once('exit', () => clearTimeout(kill));
    if (r.state === 'starting') r.drainWhenReady = hardAfter;
    else this.#drain(r, hardAfter);
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(wait);
        r.worker.off('message', onMessage);
        r.worker.off('exit', done);
        resolve();
      };
      const onMessage = (m: FromWorker) => m.type === 'draining' && done();
      const wait = setTimeout(done, 2000);
      r.worker.on('message', onMessage);
      r.worker.once('exit', done);
    });
  }

  #drain(r: WorkerRecord, hardAfter: number): void {
    r.state = 'draining';
    r.since = new Date();
    this.#send(r, { type: 'drain', hardAfter });
  }

  /**
   * A reload that covers this request: asked while one runs, the one after it, shared with
   * every request made meanwhile (the latest config wins). `plan` only says what would change.
   */
  reload(plan = false): Promise<ReloadReply> {
    return plan ? this.#reload(true) : this.#reloads.request();
  }

  async #reload(plan: boolean): Promise<ReloadReply> {
    if (this.#stopping) return { ok: false, error: 'the gateway is stopping' };
    // The same check as `tapgate check`, plus: new ports must be bindable.
    const result = await checkConfig(this.file, {
      builtins: this.options.plugins,
      logger: this.logger,
      generationId: this.#lastGeneration + 1,
      probeServers: true,
    });
    const problems = result.problems;
    if (result.ok && result.config) problems.push(...(await this.#checkNewPorts(result.config)));
    if (!result.config || problems.some((p) => p.severity === 'error')) {
      this.logger.error(
        { problems: problems.filter((p) => p.severity === 'error') },
        'reload refused: the configuration has errors; the current generation keeps serving',
      );
      return { ok: false, problems };
    }
    const changes = planChanges(this.#config, result.config, result.source.dir, this.#pluginHashes);
    const why = this.#whyNotInPlace(result.config, result.source.dir);
    const workers: ReloadReply['workers'] = why ? { inPlace: false, why } : { inPlace: true };
    if (plan) return { ok: true, plan: changes, workers, problems };
    const checked = this.#checkedCopy(result.source.text);
    if (!why) {
      const done = await this.#reloadInPlace(result.config, checked);
      if (!done.ok) {
        this.logger.error({ problems: done.problems }, 'reload failed: a worker could not prepare the new generation; the current generation keeps serving');
        return { ok: false, problems: [...problems, ...done.problems] };
      }
      this.#pluginHashes = pluginSourceHashes(result.config, result.source.dir);
      this.logger.info({ generation: done.generation, draining: 0, inPlace: true, changes }, 'reloaded');
      return { ok: true, generation: done.generation, draining: 0, plan: changes, workers, problems };
    }
    const started = await this.#startGeneration(result.config, checked);
    if (!started.ok) {
      this.logger.error({ problems: started.problems }, 'reload failed: new workers did not start; the current generation keeps serving');
      return { ok: false, problems: [...problems, ...started.problems] };
    }
    // A stop meanwhile retired the new workers with the others.
    if (this.#stopping) return { ok: false, error: 'the gateway is stopping' };
    const hardAfter = this.#config.hard_stop_after;
    this.#serve(started.generation, result.config);
    this.#pluginHashes = pluginSourceHashes(result.config, result.source.dir);
    // Every worker of the generations before, replacements still starting included.
    const old = [...this.#workers.values()].filter((r) => r.generation !== started.generation && !r.leaving);
    await Promise.all(old.map((r) => this.#retire(r, hardAfter)));
    this.logger.info({ generation: started.generation, draining: old.length, inPlace: false, why, changes }, 'reloaded');
    return { ok: true, generation: started.generation, draining: old.length, plan: changes, workers, problems };
  }

  /** Why the serving workers cannot take `config` in place (they are replaced by new processes), or undefined when they can. */
  #whyNotInPlace(config: GatewayConfig, dir: string): string | undefined {
    const n = this.#workerCount(config);
    if (n !== this.#workerCount(this.#config)) return 'the worker count changed';
    // Each worker opens its logger and access log once, at start (Gateway.start's options).
    if (!same(config.log, this.#config.log)) return 'log changed: each worker opens its log at start';
    const live = [...this.#workers.values()].filter((r) => !r.leaving);
    if (live.length !== n || live.some((r) => r.generation !== this.#serving || r.state !== 'ready')) return 'a worker is not ready';
    const compiled = compiledFiles();
    const fresh = [...compiled.values()].some((out) => !this.#loadedModules.has(out));
    if (fresh && this.#codeReloads >= CODE_RELOADS_IN_PLACE)
      return `${CODE_RELOADS_IN_PLACE} reloads in place have loaded new plugin code, which a process cannot unload`;
    // A plugin file imported as it is (not compiled) is in Node's module cache: only a new process sees it edited.
    for (const [file, hash] of pluginSourceHashes(config, dir)) {
      if (!compiled.has(file) && this.#pluginHashes.has(file) && this.#pluginHashes.get(file) !== hash)
        return `${file} changed and is loaded without compiling`;
    }
    return undefined;
  }

  /**
   * Every serving worker builds the next generation beside its own (`prepare`); once all
   * have, each serves it (`commit`). A worker that cannot prepare (or dies meanwhile) makes
   * every one drop it (`abort`): the serving generation goes on everywhere, as after a
   * failed reload that forks. So does one that has not answered within `prepare_timeout`
   * (a plugin whose setup never ends): the reload is refused rather than tried again by
   * forking, as new processes would wait on the same setup, and the serving workers are
   * left as they are; one still preparing drops the generation once it is built. A worker that cannot commit (a port it cannot take) is
   * replaced by a new process of the new generation.
   */
  async #reloadInPlace(config: GatewayConfig, checked: string | undefined): Promise<{ ok: true; generation: number } | { ok: false; problems: Problem[] }> {
    const generation = ++this.#lastGeneration;
    const env = compiledEnv();
    const outputs = [...compiledFiles().values()];
    const records = [...this.#workers.values()].filter((r) => !r.leaving && r.generation === this.#serving);
    const timeout = config.prepare_timeout;
    const prepared = await Promise.all(
      records.map((r) =>
        this.#exchange(
          r,
          { type: 'prepare', generation, compiled: env, config: checked },
          (m) => m.type === 'prepared' && m.generation === generation,
          timeout,
        ),
      ),
    );
    const problems = prepared.flatMap((m, i): Problem[] => {
      const pid = records[i]!.worker.process.pid;
      if (m === 'timeout') {
        this.logger.error(
          { pid, generation, timeoutMs: timeout },
          'a worker did not prepare the new generation in time (prepare_timeout); the reload is refused',
        );
        const message = `worker ${pid} did not prepare generation ${generation} within prepare_timeout (${timeout} ms): a plugin's setup may never finish`;
        return [{ severity: 'error', file: this.file, path: 'prepare_timeout', message }];
      }
      if (m?.type !== 'prepared') return [{ severity: 'error', file: this.file, path: '', message: `worker ${pid} exited while preparing` }];
      return m.ok ? [] : m.problems;
    });
    if (this.#stopping) problems.push({ severity: 'error', file: this.file, path: '', message: 'the gateway is stopping' });
    if (problems.length || prepared.some((m) => m === 'timeout' || m?.type !== 'prepared' || !m.ok)) {
      for (const r of records) this.#send(r, { type: 'abort', generation });
      return { ok: false, problems };
    }
    this.#compiled.set(generation, { ...env, ...(checked && { TAPGATE_CHECKED: checked }) });
    // No time limit here: a commit only swaps what is built, and a worker that cannot commit is replaced below.
    const committed = await Promise.all(
      records.map((r) => this.#exchange(r, { type: 'commit', generation }, (m) => m.type === 'committed' && m.generation === generation)),
    );
    const hardAfter = this.#config.hard_stop_after;
    this.#serve(generation, config);
    if (outputs.some((out) => !this.#loadedModules.has(out))) this.#codeReloads++;
    for (const out of outputs) this.#loadedModules.add(out);
    records.forEach((r, i) => {
      const m = committed[i];
      if (m !== 'timeout' && m?.type === 'committed' && m.ok) {
        r.generation = generation;
        r.ports = { frontends: m.ports, stats: m.statsPort };
        r.since = new Date();
      }
    });
    // Those that could not commit, and replacements of workers that died meanwhile (still on the old generation): new processes take their place.
    for (const r of [...this.#workers.values()]) {
      if (r.leaving || r.generation === generation) continue;
      this.logger.error({ pid: r.worker.process.pid, generation: r.generation }, 'a worker did not take the new generation in place; a new one replaces it');
      void this.#retire(r, hardAfter);
      this.#replace(generation);
    }
    return { ok: true, generation };
  }

  /** Sends `message` to a worker and resolves with its answer (`match`), undefined once it exits, or 'timeout' after `timeout` ms (if above 0). */
  #exchange(r: WorkerRecord, message: ToWorker, match: (m: FromWorker) => boolean, timeout = 0): Promise<FromWorker | undefined | 'timeout'> {
    return new Promise((resolve) => {
      const onMessage = (m: FromWorker) => match(m) && done(m);
      const timer = timeout > 0 ? setTimeout(() => done('timeout'), timeout) : undefined;
      const done = (m: FromWorker | undefined | 'timeout') => {
        clearTimeout(timer);
        r.worker.off('message', onMessage);
        r.worker.off('exit', onExit);
        resolve(m);
      };
      const onExit = () => done(undefined);
      r.worker.on('message', onMessage);
      r.worker.once('exit', onExit);
      if (r.worker.isConnected()) r.worker.send(message, () => undefined);
      else done(undefined);
    });
  }

  async #checkNewPorts(config: GatewayConfig): Promise<Problem[]> {
    const held = new Set<string>();
    for (const fe of Object.values(this.#config.frontends)) for (const b of [fe.bind ?? []].flat()) held.add(formatAddress(parseAddress(b)!));
    if (this.#config.stats) held.add(formatAddress(parseAddress(this.#config.stats.bind)!));
    const problems: Problem[] = [];
    if (config.stats) {
      const a = parseAddress(config.stats.bind)!;
      const error = a.port === 0 || held.has(formatAddress(a)) ? undefined : await tryBind(a.host, a.port);
      if (error) problems.push({ severity: 'error', file: this.file, path: 'stats.bind', message: `cannot bind ${formatAddress(a)}: ${error}` });
    }
    for (const [name, fe] of Object.entries(config.frontends)) {
      for (const b of [fe.bind ?? []].flat()) {
        const a = parseAddress(b)!;
        if (a.port === 0 || held.has(formatAddress(a))) continue;
        const error = await tryBind(a.host, a.port);
        if (error) problems.push({ severity: 'error', file: this.file, path: `frontends.${name}.bind`, message: `cannot bind ${formatAddress(a)}: ${error}` });
      }
    }
    return problems;
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const record = this.#workers.get(worker.id);
    if (!record) return;
    this.#workers.delete(worker.id);
    if (this.#stopping) {
      if (this.#workers.size === 0) this.#finish();
      return;
    }
    if (record.leaving) return;
    const reason = signal ?? `exit ${code}`;
    const state = record.state === 'ready' ? 'ready' : 'starting';
    this.#deathCount.inc({ reason, state });
    this.#deaths = {
      total: this.#deaths.total + 1,
      last: { pid: worker.process.pid!, generation: record.generation, reason, state, at: new Date().toISOString() },
    };
    this.logger.error({ pid: worker.process.pid, generation: record.generation, reason, state }, 'worker died unexpectedly');
    // One that died starting is #readiness's to report: a reload fails, a replacement is tried again later.
    // One that served is replaced now, without backing off: were it the last, waiting would leave the port without a worker.
    if (state === 'ready' && this.#live(record.generation)) this.#replace(record.generation);
  }

  /** Starts a worker of `generation` in place of one that died; if it cannot start, tries again later each time. */
  #replace(generation: number): void {
    this.#restarts.inc();
    void this.#readiness(this.#fork(generation)).then((ready) => {
      if (ready === true) return void (this.#failedStarts = 0);
      if (this.#stopping || !this.#live(generation)) return;
      const delay = Math.min(30_000, 100 * 2 ** this.#failedStarts++);
      this.logger.error({ generation, problems: ready, retryInMs: delay }, 'a replacement worker cannot start; trying again later');
      setTimeout(() => {
        if (!this.#stopping && this.#live(generation)) this.#replace(generation);
      }, delay).unref();
    });
  }

  /** Messages a worker sends on its own: stats questions, metrics, changes applied, its final metrics. */
  #onMessage(record: WorkerRecord, m: FromWorker): void {
    if (m.type === 'final') {
      record.final = true;
      this.#retiredMetrics = mergeSnapshots([this.#retiredMetrics, m.metrics]);
      for (const r of m.unspent) this.#leases.giveBack(record.worker.id, r);
    } else if (m.type === 'collected' || m.type === 'changed' || m.type === 'delivered' || m.type === 'returned') this.#answers.get(m.id)?.(m);
    else if (m.type === 'admin' && m.op === 'take') {
      this.#takeMessages.inc();
      void this.#leases.ask(record.worker.id, m.key, m.options, m.returned).then((result) => {
        this.#takeMessages.inc();
        this.#send(record, { type: 'admin-reply', id: m.id, result });
      });
    } else if (m.type === 'admin') void this.#answer(m).then((result) => this.#send(record, { type: 'admin-reply', id: m.id, result }));
  }

  #answer(q: Exclude<AdminQuestion, { op: 'take' }>): Promise<unknown> {
    if (q.op === 'metrics') return this.metrics();
    if (q.op === 'status') return Promise.resolve(this.status());
    if (q.op === 'setServer') return this.setServer(q.change);
    if (q.op === 'broadcast') return this.broadcast(q.topic, q.data);
    return this.reload().then((r) => ({ ok: r.ok, generation: r.generation, error: r.error, problems: r.problems }));
  }

  /** What worker `id` hands back of `key`'s lease; undefined if it is gone or does not answer within 1 s (its units count as spent). */
  async #recall(id: number, key: string): Promise<Returned | undefined> {
    const record = this.#workers.get(id);
    if (!record?.worker.isConnected()) return undefined;
    this.#takeMessages.inc();
    const [answer] = await this.#ask<Extract<FromWorker, { type: 'returned' }>>([record], (n) => ({ type: 'recall', id: n, key }));
    if (answer) this.#takeMessages.inc();
    return answer?.returned;
  }

  /** Asks each worker still counting, and collects their answers (1 s at most per worker). */
  #ask<T extends FromWorker>(records: WorkerRecord[], message: (id: number) => ToWorker): Promise<(T | undefined)[]> {
    return Promise.all(
      records.map(
        (r) =>
          new Promise<T | undefined>((resolve) => {
            const id = ++this.#asked;
            const done = (m: FromWorker | undefined) => {
              clearTimeout(timer);
              this.#answers.delete(id);
              resolve(m as T | undefined);
            };
            const timer = setTimeout(() => done(undefined), 1000);
            this.#answers.set(id, done);
            this.#send(r, message(id));
          }),
      ),
    );
  }

  /** Every worker's metrics merged, plus the totals of workers gone for the families still registered. */
  async metrics(): Promise<MetricSample[]> {
    const live = [...this.#workers.values()].filter((r) => !r.final && r.state !== 'starting' && r.worker.isConnected());
    const answers = await this.#ask<Extract<FromWorker, { type: 'collected' }>>(live, (id) => ({ type: 'collect', id }));
    // A worker that sent its final metrics while we asked is already in the totals.
    const counted = answers.filter((a, i): a is NonNullable<typeof a> => a !== undefined && !live[i]!.final);
    return withTotals(this.#retiredMetrics, [this.#metrics.snapshot(), ...counted.map((a) => a.metrics)]);
  }

  /** A plugin's message to every worker of the serving generation; their answers, in worker order. */
  async broadcast(topic: string, data: unknown): Promise<unknown[]> {
    const serving = [...this.#workers.values()].filter((r) => r.generation === this.#serving && r.state === 'ready');
    const answers = await this.#ask<Extract<FromWorker, { type: 'delivered' }>>(serving, (id) => ({ type: 'deliver', id, topic, data }));
    return answers.map((a) => a?.result);
  }

  /** Applies a run-time server change in every serving worker, and to workers started later. */
  async setServer(change: ServerChange): Promise<{ ok: true } | { ok: false; error: string }> {
    const serving = [...this.#workers.values()].filter((r) => r.generation === this.#serving && r.state === 'ready');
    const answers = await this.#ask<Extract<FromWorker, { type: 'changed' }>>(serving, (id) => ({ type: 'set-server', id, change }));
    const failed = answers.find((a) => !a || !a.result.ok);
    if (failed) return failed.result.ok ? { ok: false, error: 'a worker did not answer' } : failed.result;
    if (!answers.length) return { ok: false, error: 'no worker is serving' };
    const key = `${change.backend}/${change.server}`;
    this.#overrides.set(key, { ...this.#overrides.get(key), ...change });
    this.logger.info({ change }, 'server changed at run time');
    return { ok: true };
  }

  /** The serving generation's ports (port 0 binds: those its workers got), as one of its ready workers says; undefined while none is. */
  ports(): WorkerPorts | undefined {
    for (const r of this.#workers.values()) if (r.generation === this.#serving && r.state === 'ready' && r.ports) return r.ports;
    return undefined;
  }

  status(): StatusReply {
    return {
      ok: true,
      pid: process.pid,
      generation: this.#serving,
      config: resolve(this.file),
      uptime_s: Math.round((Date.now() - this.#started) / 1000),
      workers: [...this.#workers.values()].map((r) => ({ pid: r.worker.process.pid!, generation: r.generation, state: r.state, since: r.since.toISOString() })),
      worker_deaths: this.#deaths,
    };
  }

  /** Graceful: every worker drains (hard after `hard_stop_after`). Hard: every worker is killed now. */
  async stop(hard = false): Promise<{ ok: true; workers: number }> {
    const first = !this.#stopping;
    this.#stopping = true;
    const records = [...this.#workers.values()];
    for (const r of records) {
      if (hard) this.#kill(r);
      else if (first && !r.leaving) void this.#retire(r, this.#config.hard_stop_after);
    }
    if (this.#workers.size === 0) this.#finish();
    return { ok: true, workers: records.length };
  }

  #finish(): void {
    this.#control?.close();
    this.#compiled.clear();
    this.#dropCopies();
    rmSync(resolve(dirname(resolve(this.file)), this.#config.control.pid_file), { force: true });
    this.#stopped();
  }
}

function tryBind(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) =>
      resolve(err.code === 'EADDRINUSE' ? 'address in use' : err.code === 'EACCES' ? 'permission denied' : err.message),
    );
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * glibc's allocator for a worker: at most two arenas (its default is eight a core). What
 * V8's and libuv's threads free stays in the arena it came from, unused: a worker that had
 * held 10,000 idle connections kept 22 MB more than idle, 18 with two arenas
 * (bench/idle-memory.sh). The threads then share arenas, which their malloc calls lock; the
 * main thread, where requests are served, mallocs little. A value the user set is kept.
 */
export function workerMalloc(env: NodeJS.ProcessEnv): { MALLOC_ARENA_MAX?: string } {
  return env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2' } : {};
}

/**
 * NODE_OPTIONS for a worker: the master's, and V8's young generation capped at 4 MB a
 * semi-space (node's default lets it grow to 16 MB). A burst of requests grows it to its
 * cap and it stays committed: at 4 MB a worker holding 10,000 idle connections is about
 * 20 MB smaller, for about 0.4% more of its CPU in the scavenger. Through the environment,
 * not execArgv, so that the single executable (which reads no node flags from its
 * arguments) gets it too. A semi-space size the user chose is left as it is.
 */
export function workerNodeOptions(nodeOptions: string | undefined, execArgv: readonly string[]): string {
  const chosen = /--max[-_]semi[-_]space[-_]size/;
  if (chosen.test(nodeOptions ?? '') || execArgv.some((a) => chosen.test(a))) return nodeOptions ?? '';
  return nodeOptions ? `${nodeOptions} --max-semi-space-size=4` : '--max-semi-space-size=4';
}
