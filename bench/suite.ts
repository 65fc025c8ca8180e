// The benchmark suite (npm run bench): tapgate side by side with the direct origin,
// HAProxy, nginx and fastify + @fastify/http-proxy, every proxy pinned to the same
// core(s), in one run; then tapgate's plugins and routes against tapgate alone, TLS
// termination and TCP mode. Writes bench/results/suite.md and suite.json.
//
//   npm run bench                      # the full suite, 3 rounds (~55 min)
//   npm run bench -- --quick           # 1 round, short runs (~5 min): to try it, not to quote
//   node --import tsx bench/suite.ts --help
//
// How it measures, in short (bench/README.md says more): a round starts every target
// afresh and runs each of its scenarios once (a 1 s warm-up, then a measured run); the
// tables show the median over the rounds. wrk gives the most req/s a target serves
// (closed loop, 50 connections); wrk2 gives the latency at one fixed rate, the same for
// every target, corrected for coordinated omission. CPU per request is the CPU time of
// the target's processes (from /proc) over the run ÷ requests; RSS is summed over them.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWrk2, runEcho, runLoad, type LoadResult, type Request } from './suite/load.ts';
import { busyPct, coreTicks, killAll, rssOf, sleep, stopTree, taskTicks, tickDelta, ticksOf, tree, type Proc } from './suite/procs.ts';
import { writeReport, type Measurement, type SuiteResult } from './suite/report.ts';
import {
  httpTargets,
  pluginTargets,
  portOf,
  ports,
  prepare,
  startOrigins,
  startTarget,
  tcpTargets,
  tlsTargets,
  type Context,
  type Mode,
  type Target,
} from './suite/targets.ts';

const root = fileURLToPath(new URL('..', import.meta.url));

// ---------------------------------------------------------------- options

const HELP = `usage: node --import tsx bench/suite.ts [options]
  --quick             1 round, 2 s runs without warm-up, 3 s latency runs (about 6 minutes)
  --reps N            rounds; the tables show the median (default 3)
  --duration S        seconds of each measured wrk run, after a 1 s warm-up (default 4; --quick 2)
  --latency-duration S  seconds recorded by each wrk2 run, after its 2 s calibration (default 4; --quick 3)
  --connections N     wrk/wrk2 connections (default 50; 10 for the 1 MiB scenarios)
  --slices N          pairs of interleaved 2 s wrk runs a round: HAProxy and tapgate side by
                      side for the keep-alive ratio, each plugin configuration and the
                      baseline for its cost (default 5; --quick 2 of 1 s)
  --pairs N           pairs of interleaved wrk2 runs a round, HAProxy and tapgate, for the
                      p99 ratio, and each plugin configuration and the baseline, for its
                      Δ p99 (default 2; --quick 1)
  --rate R            wrk2 rate for the side-by-side latency (default: 75% of the slowest
                      one-core target's req/s, measured at the start)
  --plugin-rate R     wrk2 rate for the plugin latency (default: 40% of the slower of tapgate
                      alone and tapgate with the chain of five, cache HITs)
  --groups LIST       comma-separated subset of http,paired,tls,tcp,plugins (default all)
  --targets LIST      only these target ids (e.g. haproxy-1,tapgate-1,chain5)
  --workers N         N of the N-worker/N-thread targets (default: the number of cores)
  --out NAME          results file names under bench/results/ (default suite)
  --from-json FILE    only render the report again from a suite.json (after a change to report.ts)
Environment: BENCH_WORK (default .bench-work), BENCH_PORT_BASE (default 18300),
BENCH_PROXY_CPU (default the last core), BENCH_WRK2 (a wrk2 binary; default: built into
BENCH_WORK/tools from giltene/wrk2).`;

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  if (i < 0) return dflt;
  const v = Number(args[i + 1]);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} wants a positive number`);
  return v;
};
const str = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : args[i + 1]!;
};
if (args.includes('-h') || args.includes('--help')) {
  console.log(HELP);
  process.exit(0);
}
if (args.includes('--from-json')) {
  // Renders the report again from a suite.json, measuring nothing (for changes to report.ts).
  const file = args[args.indexOf('--from-json') + 1]!;
  const name = args.includes('--out') ? args[args.indexOf('--out') + 1]! : 'suite';
  console.log(writeReport(JSON.parse(readFileSync(file, 'utf8')) as SuiteResult, join(root, 'bench/results'), name).join('\n'));
  process.exit(0);
}
const quick = args.includes('--quick');
const settings = {
  quick,
  reps: opt('--reps', quick ? 1 : 3),
  duration_s: opt('--duration', quick ? 2 : 4),
  latency_duration_s: opt('--latency-duration', quick ? 3 : 4),
  warmup_s: quick ? 0 : 1,
  connections: opt('--connections', 50),
  pairs: opt('--pairs', quick ? 1 : 2),
  slices: opt('--slices', quick ? 2 : 5),
  slice_s: quick ? 1 : 2,
  big_connections: 10,
  rate: args.includes('--rate') ? opt('--rate', 0) : (undefined as number | undefined),
  plugin_rate: args.includes('--plugin-rate') ? opt('--plugin-rate', 0) : (undefined as number | undefined),
  groups: str('--groups', 'http,paired,tls,tcp,plugins').split(','),
  only: args.includes('--targets') ? str('--targets', '').split(',') : undefined,
  workers: opt('--workers', os.availableParallelism()),
  out: str('--out', 'suite'),
};
const CALIBRATION_S = 2; // wrk2's calibration period, as built by ensureWrk2

const log = (s: string) => process.stderr.write(`[bench] ${s}\n`);

// ---------------------------------------------------------------- cores and context

const allowed = readFileSync('/proc/self/status', 'utf8')
  .match(/Cpus_allowed_list:\s+(\S+)/)![1]!
  .split(',')
  .flatMap((part) => {
    const [a, b] = part.split('-').map(Number);
    return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
  });
if (allowed.length < 2) throw new Error('the suite needs 2 cores or more: one for the proxy, one for wrk and the origins');
const proxyCore = Number(process.env.BENCH_PROXY_CPU ?? allowed.at(-1));
const loadCores = allowed.filter((c) => c !== proxyCore);
const work = process.env.BENCH_WORK ?? join(root, '.bench-work');
const run = join(work, 'suite');
rmSync(run, { recursive: true, force: true });
mkdirSync(run, { recursive: true });
const base = Number(process.env.BENCH_PORT_BASE ?? 18300);

// The driver itself stays off the proxy core.
execFileSync('taskset', ['-a', '-p', '-c', loadCores.join(','), String(process.pid)], { stdio: 'ignore' });
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const)
  process.on(sig, () => {
    log(`${sig}: stopping`);
    process.exit(130);
  });

const ctx0 = {
  root,
  run,
  ports: ports(base),
  proxyCpus: String(proxyCore),
  allCpus: allowed.join(','),
  loadCpus: loadCores.join(','),
  n: settings.workers,
};

// ---------------------------------------------------------------- scenarios

interface Scenario {
  id: string;
  title: string;
  req: Request;
  connections?: number;
}
const HTTP: Scenario[] = [
  { id: 'ka', title: 'keep-alive, 6 B response', req: { path: '/' } },
  { id: 'close', title: 'Connection: close (new connection per request)', req: { path: '/', headers: ['Connection: close'] } },
  { id: '64k', title: 'keep-alive, 64 KiB response', req: { path: '/64k' } },
  { id: '1m', title: 'keep-alive, 1 MiB response (10 connections)', req: { path: '/1m' }, connections: 10 },
  { id: 'upload', title: '1 MiB upload, POST (10 connections)', req: { path: '/upload', upload: 1 << 20 }, connections: 10 },
  // A hook for HTTP/2: an 'h2' scenario would run h2load (nghttp2-client) here instead of wrk.
];
const TLS: Scenario[] = [
  { id: 'tls-close', title: 'TLS, Connection: close (a full handshake per request)', req: { path: '/', headers: ['Connection: close'], tls: true } },
  { id: 'tls-ka', title: 'TLS, keep-alive', req: { path: '/', tls: true } },
];

// ---------------------------------------------------------------- measuring

const measurements: Measurement[] = [];
const chosen = (t: Target) => !settings.only || settings.only.includes(t.id);
let origins: Proc[] = [];

/** The PIDs this benchmark runs: the driver, the origins and the target's processes. */
function ours(target?: Proc): number[] {
  return [process.pid, ...origins.flatMap((o) => tree(o.pid)), ...(target ? tree(target.pid) : [])];
}

/**
 * CPU used by everything else, in % of one core: the ticks charged to processes on every
 * core (/proc/stat) minus those of our own processes. Counted this way, short-lived
 * processes (a test suite's children) are seen too.
 */
function foreignPct(c0: ReturnType<typeof coreTicks>, c1: ReturnType<typeof coreTicks>, ownTicks: number, seconds: number): number {
  return Math.max(0, Math.round((taskTicks(c0, c1) - ownTicks) / seconds));
}

type Load = (onStart: (pid: number) => void) => Promise<{ result: LoadResult | undefined; mb_s?: number }>;

/** One run against the target already started: load, CPU, RSS and what else ran meanwhile. */
async function measure(
  c: Context,
  group: string,
  t: Target,
  proc: Proc | undefined,
  scenario: string,
  round: number,
  load: Load,
  extra: Partial<Measurement> = {},
): Promise<Measurement> {
  const cores = t.kind === 'direct' ? loadCores : t.cores === 'all' ? allowed : [proxyCore];
  const pids = proc ? tree(proc.pid) : origins.flatMap((o) => tree(o.pid));
  let m: Measurement | undefined;
  for (let attempt = 1; attempt <= 2; attempt++) {
    const known = ours(proc);
    await waitQuiet(known);
    const own0 = ticksOf(known),
      t0 = ticksOf(pids),
      c0 = coreTicks(),
      wall0 = performance.now();
    let peak = rssOf(pids);
    // The generator's CPU, sampled while it runs (it is gone at the end).
    let gen: number[] = [],
      genTicks = new Map<number, number>();
    const sampler = setInterval(() => {
      peak = Math.max(peak, rssOf(pids));
      if (gen.length) for (const [p, x] of ticksOf(gen)) genTicks.set(p, x);
    }, 250);
    let out;
    try {
      out = await load((pid) => {
        setTimeout(() => {
          gen = tree(pid);
        }, 100);
      });
    } finally {
      clearInterval(sampler);
    }
    const seconds = (performance.now() - wall0) / 1000;
    const own1 = ticksOf(known),
      t1 = ticksOf(pids),
      c1 = coreTicks();
    const cpuMs = tickDelta(t0, t1) * 10;
    const foreign = foreignPct(c0, c1, tickDelta(own0, own1) + [...genTicks.values()].reduce((a, b) => a + b, 0), seconds);
    const r = out.result;
    m = {
      group,
      target: t.id,
      label: t.label,
      scenario,
      round,
      attempt,
      rps: r ? Math.round(r.rps) : undefined,
      mb_s: out.mb_s !== undefined ? Number(out.mb_s.toFixed(1)) : undefined,
      p50_ms: r?.p50_ms,
      p99_ms: r?.p99_ms,
      p999_ms: r?.p999_ms,
      errors: r ? Object.values(r.errors).reduce((a, b) => a + b, 0) : 0,
      cpu_us_per_request: r && t.kind !== 'direct' && r.requests ? Number(((cpuMs * 1000) / r.requests).toFixed(1)) : undefined,
      target_cpu_pct: Math.round(cpuMs / 10 / seconds),
      cores_busy_pct: busyPct(c0, c1, cores),
      load_busy_pct: t.cores === 'all' ? undefined : busyPct(c0, c1, loadCores),
      peak_rss_mb: Number((peak / 2 ** 20).toFixed(1)),
      other_cpu_pct: foreign,
      ...extra,
    };
    if (foreign <= 25 || attempt === 2 || quietBudgetS <= 0) break;
    quietBudgetS -= seconds;
    log(`  ${t.id} ${scenario}: other processes used ${foreign}% of a core meanwhile; measuring again`);
  }
  measurements.push(m!);
  const show =
    m!.mb_s !== undefined ? `${m!.mb_s} MB/s` : `${m!.rps} req/s, p50 ${m!.p50_ms?.toFixed(2)} p99 ${m!.p99_ms?.toFixed(2)} p99.9 ${m!.p999_ms?.toFixed(2)} ms`;
  log(
    `  ${t.id} ${scenario} #${round}: ${show}; ${m!.cpu_us_per_request ?? '-'} µs CPU/req, target ${m!.target_cpu_pct}% CPU, cores ${m!.cores_busy_pct}% busy, load core ${m!.load_busy_pct ?? '-'}%, peak RSS ${m!.peak_rss_mb} MB, others ${m!.other_cpu_pct}%${m!.errors ? `, ${m!.errors} ERRORS` : ''}`,
  );
  return m!;
}

/**
 * Waits (at most QUIET_MAX_S) until other processes use under 10% of a core over half a
 * second: other work on this machine (tests, builds) would be measured too.
 */
const QUIET_MAX_S = 5;
/** Seconds of waiting and retrying the whole run may spend on a busy machine; then it measures regardless (and says so). */
let quietBudgetS = settings.quick ? 60 : 240;
async function waitQuiet(known: number[]): Promise<void> {
  if (quietBudgetS <= 0) return;
  const started = Date.now();
  const deadline = started + Math.min(QUIET_MAX_S, quietBudgetS) * 1000;
  try {
    await waitQuietUntil(known, deadline);
  } finally {
    quietBudgetS -= (Date.now() - started) / 1000;
    if (quietBudgetS <= 0) log('  the time allowed for waiting on a busy machine is used up: measuring without waiting from now on');
  }
}
async function waitQuietUntil(known: number[], deadline: number): Promise<void> {
  let foreign = 0;
  while (Date.now() < deadline) {
    const own0 = ticksOf(known),
      c0 = coreTicks();
    await sleep(500);
    foreign = foreignPct(c0, coreTicks(), tickDelta(own0, ticksOf(known)), 0.5);
    if (foreign < 10) return;
  }
  log(`  the machine stayed busy (others ${foreign}% of a core); measuring anyway`);
}

function wrk(c: Context, t: Target, mode: Mode, s: Scenario, seconds: number, rate?: number, onStart?: (pid: number) => void): Promise<LoadResult> {
  return runLoad({
    cpus: c.loadCpus,
    port: portOf(c, t, mode),
    req: s.req,
    seconds,
    connections: s.connections ?? settings.connections,
    dir: join(run, 'lua'),
    rate,
    wrk2: WRK2,
    onStart,
  });
}

/** A request through the target that must answer 200 with the expected body: a broken config fails here, not in the tables. */
async function check(c: Context, t: Target, mode: Mode, req: Request, expect: string): Promise<void> {
  const port = portOf(c, t, mode);
  const headers = Object.fromEntries((req.headers ?? []).map((h) => [h.slice(0, h.indexOf(':')), h.slice(h.indexOf(':') + 1).trim()]));
  const body = await new Promise<string>((resolve, reject) => {
    const r = (mode === 'tls' ? https : http).get({ host: '127.0.0.1', port, path: req.path, headers, rejectUnauthorized: false, agent: false }, (res) => {
      let b = '';
      res.on('data', (d) => (b += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(b) : reject(new Error(`${t.id}: GET ${req.path} answered ${res.statusCode}: ${b.slice(0, 200)}`))));
    });
    r.on('error', reject);
    r.setTimeout(5000, () => r.destroy(new Error(`${t.id}: GET ${req.path} timed out`)));
  });
  if (body !== expect) throw new Error(`${t.id}: GET ${req.path} answered ${JSON.stringify(body.slice(0, 80))}, expected ${JSON.stringify(expect)}`);
}

/**
 * RSS of the target's processes a second after start, idle: total, the largest process,
 * and the largest worker (a node process below the one started: tapgate's master is not
 * a worker, nor is a helper process such as esbuild's; with no child, the process itself).
 */
async function idleRss(
  proc: Proc | undefined,
): Promise<{ idle_rss_mb?: number; idle_rss_max_process_mb?: number; idle_rss_worker_mb?: number; processes?: number }> {
  if (!proc) return {};
  await sleep(1000);
  const pids = tree(proc.pid).filter((p) => {
    try {
      return !readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('taskset');
    } catch {
      return false;
    }
  });
  const each = pids.map((p) => rssOf([p]));
  const comm = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const workers = pids.filter((p, i) => i > 0 && comm(p) === comm(pids[0]!));
  const worker = workers.length ? Math.max(...workers.map((p) => each[pids.indexOf(p)]!)) : each[0]!;
  return {
    idle_rss_mb: Number((each.reduce((a, b) => a + b, 0) / 2 ** 20).toFixed(1)),
    idle_rss_max_process_mb: Number((Math.max(...each) / 2 ** 20).toFixed(1)),
    idle_rss_worker_mb: Number((worker / 2 ** 20).toFixed(1)),
    processes: pids.length,
  };
}

// ---------------------------------------------------------------- groups

async function httpGroup(c: Context, round: number, rate: number): Promise<void> {
  for (const t of httpTargets(c.n).filter(chosen)) {
    log(`round ${round}: ${t.label}`);
    const proc = await startTarget(c, t, 'http');
    try {
      const idle = await idleRss(proc);
      await check(c, t, 'http', { path: '/' }, 'hello\n');
      for (const s of HTTP) {
        if (settings.warmup_s) await wrk(c, t, 'http', s, settings.warmup_s);
        await measure(
          c,
          'http',
          t,
          proc,
          s.id,
          round,
          async (on) => ({ result: await wrk(c, t, 'http', s, settings.duration_s, undefined, on) }),
          s.id === 'ka' ? idle : {},
        );
      }
      await measure(
        c,
        'http',
        t,
        proc,
        'latency',
        round,
        async (on) => ({ result: await wrk(c, t, 'http', HTTP[0]!, CALIBRATION_S + settings.latency_duration_s, rate, on) }),
        { rate },
      );
    } finally {
      if (proc) await stopTree(proc);
    }
  }
}

/**
 * The ratios the issues set against HAProxy, measured interleaved: an HAProxy target (on a
 * second port) and a tapgate target run side by side on the proxy core, and the load goes
 * to one then the other: `--slices` pairs of short wrk runs of each scenario, then
 * `--pairs` pairs of wrk2 runs, the order alternating. Two pairings: tapgate's default
 * configuration against HAProxy as usually run (issue 24's headline: keep-alive and
 * Connection: close), then the tuned tapgate against plain HAProxy (issue 10's keep-alive
 * and p99). The side-by-side table runs every target's every scenario in turn, minutes
 * apart; on a shared host the machine drifts more than that between two targets' runs.
 */
async function pairedGroup(c: Context, round: number, rate: number): Promise<void> {
  for (const [hapId, tgId, scenarios] of PAIRINGS) {
    const hap = httpTargets(c.n).find((t) => t.id === hapId),
      tg = httpTargets(c.n).find((t) => t.id === tgId);
    if (!hap || !tg || !chosen(hap) || !chosen(tg)) continue;
    const two: Target[] = [{ ...hap, port: c.ports.twin }, tg];
    log(`round ${round}: ${two.map((t) => t.label).join(' and ')}, interleaved`);
    const procs: (Proc | undefined)[] = [];
    try {
      for (const t of two) procs.push(await startTarget(c, t, 'http'));
      for (const t of two) {
        await check(c, t, 'http', HTTP[0]!.req, 'hello\n');
        await wrk(c, t, 'http', HTTP[0]!, 2);
      }
      for (const id of scenarios) {
        const s = HTTP.find((x) => x.id === id)!;
        await alternating(settings.slices, [0, 1], (i, k) =>
          measure(c, 'paired', two[i]!, procs[i], id, round, async (on) => ({ result: await wrk(c, two[i]!, 'http', s, settings.slice_s, undefined, on) }), {
            pair: k,
          }),
        );
      }
      await alternating(settings.pairs, [0, 1], (i, k) =>
        measure(
          c,
          'paired',
          two[i]!,
          procs[i],
          'latency',
          round,
          async (on) => ({ result: await wrk(c, two[i]!, 'http', HTTP[0]!, CALIBRATION_S + settings.latency_duration_s, rate, on) }),
          { rate, pair: k },
        ),
      );
    } finally {
      for (const p of procs) if (p) await stopTree(p);
    }
  }
}
/** The paired group's pairings: HAProxy target, tapgate target, the wrk scenarios interleaved (then p99 at the fixed rate). */
const PAIRINGS: [string, string, string[]][] = [
  ['haproxy-used', 'tapgate-default', ['ka', 'close']],
  ['haproxy-1', 'tapgate-1', ['ka']],
];

/** `n` pairs of runs, the order alternating (first then second, then second then first, ...); `k` counts the pairs from 1. */
async function alternating<T>(n: number, two: readonly T[], run: (x: T, k: number) => Promise<unknown>): Promise<void> {
  for (let k = 1; k <= n; k++) for (const x of k % 2 ? two : [...two].reverse()) await run(x, k);
}

async function tlsGroup(c: Context, round: number): Promise<void> {
  for (const t of tlsTargets().filter(chosen)) {
    log(`round ${round}: ${t.label}, TLS`);
    const proc = await startTarget(c, t, 'tls');
    try {
      await check(c, t, 'tls', { path: '/' }, 'hello\n');
      for (const s of TLS) {
        if (settings.warmup_s) await wrk(c, t, 'tls', s, settings.warmup_s);
        await measure(c, 'tls', t, proc, s.id, round, async (on) => ({ result: await wrk(c, t, 'tls', s, settings.duration_s, undefined, on) }));
      }
    } finally {
      if (proc) await stopTree(proc);
    }
  }
}

async function tcpGroup(c: Context, round: number): Promise<void> {
  for (const t of tcpTargets().filter(chosen)) {
    log(`round ${round}: ${t.label}, TCP echo`);
    const proc = await startTarget(c, t, 'tcp');
    try {
      await measure(c, 'tcp', t, proc, 'echo', round, async (on) => {
        const r = await runEcho(c.loadCpus, portOf(c, t, 'tcp'), settings.duration_s, 8, on);
        return { result: undefined, mb_s: r.mb_s };
      });
    } finally {
      if (proc) await stopTree(proc);
    }
  }
}

function pluginRequest(c: Context, t: Target): Request {
  return {
    path: t.path ?? '/cached',
    headers: [`Authorization: Bearer ${c.jwtToken}`, ...(t.routes ? [`Host: host${t.routes - 1}.example.com`] : [])],
  };
}

async function pluginGroup(c: Context, round: number, rate: number): Promise<void> {
  const targets = pluginTargets().filter(chosen);
  for (const t of targets) await pluginRun(c, round, rate, t);
  // Then each configuration's cost, against a baseline running beside it.
  const base = targets.find((t) => t.id === 'base');
  if (!base) return;
  const twin: Target = { ...base, port: c.ports.twin };
  const twinProc = await startTarget(c, twin, 'http');
  try {
    await check(c, twin, 'http', pluginRequest(c, twin), 'hello\n');
    for (const t of targets) if (t !== base) await interleaved(c, round, rate, twin, twinProc, t);
  } finally {
    if (twinProc) await stopTree(twinProc);
  }
}

/** A dashboard reading /stats.json every second, for the configurations with the stats listener. */
function statsPoller(c: Context, t: Target): NodeJS.Timeout | undefined {
  if (!t.statsListener) return undefined;
  return setInterval(() => {
    http.get({ host: '127.0.0.1', port: c.ports.stats, path: '/stats.json', agent: false }, (r) => r.resume()).on('error', () => {});
  }, 1000);
}

/** One configuration alone: most req/s and CPU per request (wrk), then latency at the fixed rate (wrk2). */
async function pluginRun(c: Context, round: number, rate: number, t: Target): Promise<void> {
  log(`round ${round}: tapgate, ${t.label}`);
  const proc = await startTarget(c, t, 'http');
  const poller = statsPoller(c, t);
  try {
    const s: Scenario = { id: 'ka', title: 'keep-alive, 6 B, plugin request', req: pluginRequest(c, t) };
    await check(c, t, 'http', s.req, 'hello\n'); // also stores the response in the cache
    if (settings.warmup_s) await wrk(c, t, 'http', s, settings.warmup_s);
    await measure(c, 'plugins', t, proc, 'ka', round, async (on) => ({ result: await wrk(c, t, 'http', s, settings.duration_s, undefined, on) }));
    await measure(
      c,
      'plugins',
      t,
      proc,
      'latency',
      round,
      async (on) => ({ result: await wrk(c, t, 'http', s, CALIBRATION_S + settings.latency_duration_s, rate, on) }),
      { rate },
    );
  } finally {
    clearInterval(poller);
    if (proc) await stopTree(proc);
  }
}

/**
 * A configuration's cost: it and the baseline (`twin`, on another port) run side by side
 * on the proxy core, and wrk loads them in turn, `--slices` pairs of short runs, the
 * order alternating; then wrk2 at `rate`, `--pairs` pairs, for the p99 each adds. The
 * host here drifts by tens of percent within seconds; runs a few seconds apart, many
 * times over, see the same machine.
 */
async function interleaved(c: Context, round: number, rate: number, twin: Target, twinProc: Proc | undefined, t: Target): Promise<void> {
  log(`round ${round}: tapgate, ${t.label}, interleaved with the baseline`);
  const proc = await startTarget(c, t, 'http');
  const poller = statsPoller(c, t);
  try {
    const runs: [Target, Proc | undefined, Scenario][] = [
      [twin, twinProc, { id: 'ka', title: '', req: pluginRequest(c, twin) }],
      [t, proc, { id: 'ka', title: '', req: pluginRequest(c, t) }],
    ];
    await check(c, t, 'http', runs[1]![2].req, 'hello\n');
    for (const [x, , s] of runs) await wrk(c, x, 'http', s, 2);
    await alternating(settings.slices, runs, ([x, p, s], k) =>
      measure(c, 'plugins', x, p, 'ka-slice', round, async (on) => ({ result: await wrk(c, x, 'http', s, settings.slice_s, undefined, on) }), {
        pair: k,
        against: t.id,
      }),
    );
    await alternating(settings.pairs, runs, ([x, p, s], k) =>
      measure(
        c,
        'plugins',
        x,
        p,
        'latency-pair',
        round,
        async (on) => ({ result: await wrk(c, x, 'http', s, CALIBRATION_S + settings.latency_duration_s, rate, on) }),
        { rate, pair: k, against: t.id },
      ),
    );
  } finally {
    clearInterval(poller);
    if (proc) await stopTree(proc);
  }
}

/**
 * The plugin latency runs' share of the slower of the baseline and the chain of five:
 * low enough that the slowest configuration is not near saturation, where p99 says more
 * about the host than about a plugin.
 */
const PLUGIN_RATE_SHARE = 0.4;

/** The fixed rates: 75% of the slowest one-core target's req/s, PLUGIN_RATE_SHARE of the slowest plugin configuration's, from a short wrk run each. */
async function calibrate(c: Context): Promise<{ rate: number; pluginRate: number }> {
  const quickRps = async (t: Target, req: Request) => {
    const proc = await startTarget(c, t, 'http');
    try {
      await check(c, t, 'http', req, 'hello\n');
      await wrk(c, t, 'http', { id: 'cal', title: '', req }, 1);
      await waitQuiet(ours(proc));
      return (await wrk(c, t, 'http', { id: 'cal', title: '', req }, 3)).rps;
    } finally {
      if (proc) await stopTree(proc);
    }
  };
  let rate = settings.rate,
    pluginRate = settings.plugin_rate;
  if (!rate && (settings.groups.includes('http') || settings.groups.includes('paired'))) {
    const one = httpTargets(c.n).filter((t) => t.cores === 'one' && t.kind !== 'direct');
    const slowest = [];
    for (const t of one.filter((x) => x.kind === 'fastify' || x.kind === 'tapgate')) slowest.push(await quickRps(t, { path: '/' }));
    rate = 0.75 * Math.min(...slowest);
  }
  if (!pluginRate && settings.groups.includes('plugins')) {
    const rps = [];
    // chain5-miss is left out: a configuration far slower than the rest would set a rate
    // at which the others are idle (its own latency row then shows it saturated).
    for (const t of pluginTargets().filter((x) => ['base', 'chain5'].includes(x.id))) rps.push(await quickRps(t, pluginRequest(c, t)));
    pluginRate = PLUGIN_RATE_SHARE * Math.min(...rps);
  }
  const round100 = (x: number | undefined) => Math.max(100, Math.round((x ?? 0) / 100) * 100);
  return { rate: round100(rate), pluginRate: round100(pluginRate) };
}

// ---------------------------------------------------------------- main

const started = Date.now();
const WRK2 = ensureWrk2(join(work, 'tools'), log);
if (process.env.BENCH_TAPGATE !== 'source') {
  // Measure what is shipped: the binary of this tree (about 5 s to build).
  log('building the gateway binary (npm run build:binary)');
  execFileSync('npm', ['run', '-s', 'build:binary'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
const jwtToken = await prepare(ctx0);
const c: Context = { ...ctx0, jwtToken };
origins = await startOrigins(c);
const commit = (() => {
  const sh = (cmd: string[]) => execFileSync('git', cmd, { cwd: root }).toString().trim();
  try {
    const dirty = sh(['status', '--porcelain', '--', 'core', 'plugins', 'sdk', 'bin', 'package.json']) !== '';
    return `${sh(['rev-parse', '--short', 'HEAD'])}${dirty ? '+uncommitted' : ''}`;
  } catch {
    return 'unknown';
  }
})();
log(`proxy core ${proxyCore}; wrk, wrk2 and the origins on core(s) ${c.loadCpus}; N = ${c.n}; ${settings.reps} round(s); commit ${commit}; work in ${run}`);
const { rate, pluginRate } = await calibrate(c);
log(`fixed rates: ${rate} req/s side by side, ${pluginRate} req/s for the plugins`);

for (let round = 1; round <= settings.reps; round++) {
  if (settings.groups.includes('http')) await httpGroup(c, round, rate);
  if (settings.groups.includes('paired')) await pairedGroup(c, round, rate);
  if (settings.groups.includes('tls')) await tlsGroup(c, round);
  if (settings.groups.includes('tcp')) await tcpGroup(c, round);
  if (settings.groups.includes('plugins')) await pluginGroup(c, round, pluginRate);
}
for (const o of origins) await stopTree(o);

const version = (cmd: string, re: RegExp) => re.exec(spawnSync('sh', ['-c', `${cmd} 2>&1`]).stdout?.toString() ?? '')?.[1] ?? 'unknown';
const pkgVersion = (name: string) => JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')).version as string;
const result: SuiteResult = {
  generated: new Date().toISOString(),
  commit,
  minutes: Number(((Date.now() - started) / 60_000).toFixed(1)),
  host: {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: allowed.length,
    kernel: os.release(),
    proxy_core: proxyCore,
    load_cores: loadCores,
  },
  settings: { ...settings, rate, plugin_rate: pluginRate, plugin_rate_share: PLUGIN_RATE_SHARE, calibration_s: CALIBRATION_S },
  versions: {
    node: process.version,
    haproxy: version('haproxy -v', /version (\S+)/),
    nginx: version('nginx -v', /nginx\/(\S+)/),
    wrk: version('wrk -v', /wrk (\S+)/),
    wrk2: 'giltene/wrk2 44a94c1 (calibration 2 s)',
    fastify: pkgVersion('fastify'),
    '@fastify/http-proxy': pkgVersion('@fastify/http-proxy'),
    '@fastify/reply-from': pkgVersion('@fastify/reply-from'),
  },
  scenarios: Object.fromEntries([...HTTP, ...TLS].map((s) => [s.id, s.title])),
  targets: Object.fromEntries([...httpTargets(c.n), ...pluginTargets().map((t) => ({ ...t, id: t.id }))].map((t) => [t.id, t.label])),
  measurements,
};
const files = writeReport(result, join(root, 'bench/results'), settings.out);
log(`done in ${result.minutes} min: ${files.join(', ')}`);
process.exit(0);
