// The suite's report: medians over the rounds, ratios, the issue's targets checked, as
// markdown (bench/results/<name>.md) and JSON (<name>.json, every run included).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One measured run. */
export interface Measurement {
  group: string;
  target: string;
  label: string;
  scenario: string;
  round: number;
  attempt: number;
  rps?: number;
  mb_s?: number;
  /** wrk2 only: the fixed rate asked for. */
  rate?: number;
  p50_ms?: number;
  p99_ms?: number;
  p999_ms?: number;
  errors: number;
  /** CPU time of the target's processes ÷ requests (for direct: none). */
  cpu_us_per_request?: number;
  /** CPU of the target's processes, % of one core (for direct: the origins). */
  target_cpu_pct: number;
  /** Busy share of the target's cores (kernel network work included). */
  cores_busy_pct: number;
  /** Busy share of the load core(s), for one-core targets. */
  load_busy_pct?: number;
  peak_rss_mb: number;
  idle_rss_mb?: number;
  idle_rss_max_process_mb?: number;
  /** The largest worker process (tapgate: not the master). */
  idle_rss_worker_mb?: number;
  processes?: number;
  /** CPU used meanwhile by processes outside the benchmark, % of one core. */
  other_cpu_pct: number;
  /** Interleaved runs (the paired group, the plugin costs): which pair of the round. */
  pair?: number;
  /** Plugin group, interleaved runs: the configuration this pair compares (on the baseline's runs too). */
  against?: string;
}

export interface SuiteResult {
  generated: string;
  commit: string;
  minutes: number;
  host: { cpu: string; cores: number; kernel: string; proxy_core: number; load_cores: number[] };
  settings: Record<string, unknown> & {
    reps: number;
    duration_s: number;
    latency_duration_s: number;
    connections: number;
    rate: number;
    plugin_rate: number;
    workers: number;
    quick: boolean;
  };
  versions: Record<string, string>;
  scenarios: Record<string, string>;
  targets: Record<string, string>;
  measurements: Measurement[];
}

type Cell = Omit<Measurement, 'round' | 'attempt'> & { rounds: number; rps_each: number[] };

const NUMERIC = [
  'rps',
  'mb_s',
  'rate',
  'p50_ms',
  'p99_ms',
  'p999_ms',
  'cpu_us_per_request',
  'target_cpu_pct',
  'cores_busy_pct',
  'load_busy_pct',
  'peak_rss_mb',
  'idle_rss_mb',
  'idle_rss_max_process_mb',
  'idle_rss_worker_mb',
  'processes',
  'other_cpu_pct',
] as const;

/** A tapgate target's runs in the paired group with its HAProxy target's run of the same round, pair and scenario. */
function pairsOf(ms: Measurement[], scenario: string, tapgate = 'tapgate-1', haproxy = 'haproxy-1'): [tapgate: Measurement, haproxy: Measurement][] {
  const of = (m: Measurement) =>
    ms.find((x) => x.group === 'paired' && x.target === haproxy && x.scenario === scenario && x.round === m.round && x.pair === m.pair);
  return ms
    .filter((m) => m.group === 'paired' && m.target === tapgate && m.scenario === scenario)
    .flatMap((m) => {
      const h = of(m);
      return h ? [[m, h] as [Measurement, Measurement]] : [];
    });
}

/** Ratios tapgate ÷ HAProxy within each interleaved pair (keep-alive req/s, p99 at the fixed rate). */
function pairedRatios(ms: Measurement[]): { ka: number[]; p99: number[] } {
  return {
    ka: pairsOf(ms, 'ka').flatMap(([t, h]) => (t.rps && h.rps ? [t.rps / h.rps] : [])),
    p99: pairsOf(ms, 'latency').flatMap(([t, h]) => (t.p99_ms && h.p99_ms ? [t.p99_ms / h.p99_ms] : [])),
  };
}

/**
 * A plugin configuration's cost against the baseline running beside it: one value per
 * pair of interleaved runs (every round), for req/s lost, CPU per request added, and
 * (wrk2 pairs) ms of p99 added.
 */
function slicedCosts(ms: Measurement[], target: string): { rps: number[]; cpu: number[]; p99: number[] } {
  const out = { rps: [] as number[], cpu: [] as number[], p99: [] as number[] };
  for (const m of ms) {
    if (m.group !== 'plugins' || (m.scenario !== 'ka-slice' && m.scenario !== 'latency-pair') || m.target !== target) continue;
    const b = ms.find(
      (x) => x.group === 'plugins' && x.scenario === m.scenario && x.target === 'base' && x.against === target && x.round === m.round && x.pair === m.pair,
    );
    if (m.scenario === 'latency-pair') {
      if (b?.p99_ms !== undefined && m.p99_ms !== undefined) out.p99.push(m.p99_ms - b.p99_ms);
      continue;
    }
    if (b?.rps && m.rps) out.rps.push(1 - m.rps / b.rps);
    if (b?.cpu_us_per_request && m.cpu_us_per_request) out.cpu.push(m.cpu_us_per_request / b.cpu_us_per_request - 1);
  }
  return out;
}

/** The first and third quartiles. */
function quartiles(xs: number[]): [number, number] {
  const s = [...xs].sort((a, b) => a - b);
  const at = (f: number) => {
    const i = f * (s.length - 1);
    return s[Math.floor(i)]! + (s[Math.ceil(i)]! - s[Math.floor(i)]!) * (i - Math.floor(i));
  };
  return [at(0.25), at(0.75)];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Medians over the rounds, by group/target/scenario. */
function cells(ms: Measurement[]): Map<string, Cell> {
  const by = new Map<string, Measurement[]>();
  for (const m of ms) {
    const k = `${m.group}/${m.target}/${m.scenario}`;
    by.set(k, [...(by.get(k) ?? []), m]);
  }
  const out = new Map<string, Cell>();
  for (const [k, rs] of by) {
    const c: Record<string, unknown> = {
      ...rs[0],
      rounds: rs.length,
      errors: rs.reduce((a, r) => a + r.errors, 0),
      rps_each: rs.map((r) => r.rps ?? r.mb_s ?? 0),
    };
    delete c.round;
    delete c.attempt;
    for (const f of NUMERIC) {
      const xs = rs.map((r) => r[f]).filter((x): x is number => typeof x === 'number');
      c[f] = xs.length ? Number(median(xs).toFixed(3)) : undefined;
    }
    out.set(k, c as Cell);
  }
  return out;
}

const num = (x: number | undefined, digits = 0) =>
  x === undefined || !Number.isFinite(x) ? 'n/a' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const ms = (x: number | undefined) => (x === undefined ? 'n/a' : x >= 10 ? x.toFixed(1) : x.toFixed(2));
const ratio = (a: number | undefined, b: number | undefined) => (a !== undefined && b ? a / b : undefined);
const x2 = (r: number | undefined) => (r === undefined ? 'n/a' : `${r.toFixed(2)}×`);
const row = (xs: (string | number)[]) => `| ${xs.join(' | ')} |`;
const rule = (n: number) => row(['---', ...Array<string>(n - 1).fill('---:')]);
const pct = (x: number | undefined, sign = false) => (x === undefined ? 'n/a' : `${sign && x >= 0 ? '+' : ''}${(x * 100).toFixed(1)}%`);
const yes = (ok: boolean | undefined) => (ok === undefined ? 'not measured' : ok ? '**met**' : '**not met**');

export function writeReport(r: SuiteResult, dir: string, name: string): string[] {
  const C = cells(r.measurements);
  const get = (group: string, target: string, scenario: string) => C.get(`${group}/${target}/${scenario}`);
  const n = r.settings.workers;
  const httpIds = Object.keys(r.targets).filter((t) => [...C.keys()].some((k) => k.startsWith(`http/${t}/`)));
  // tapgate's defaults are compared with HAProxy as usually run (logging, forwardfor); the tuned rows with plain HAProxy.
  const sameCoresHaproxy = (t: string) => (t === 'tapgate-default' ? 'haproxy-used' : t.endsWith(`-${n}`) && n !== 1 ? `haproxy-${n}` : 'haproxy-1');
  const httpScenarios = ['ka', 'close', '64k', '1m', 'upload'].filter((s) => httpIds.some((t) => get('http', t, s)));
  const out: string[] = [];
  const when = r.generated.slice(0, 16).replace('T', ' ');

  out.push(`# tapgate benchmark suite (commit ${r.commit}, ${when} UTC)`, '');
  out.push(
    `${r.host.cpu}, ${r.host.cores} cores, Linux ${r.host.kernel}, Node ${r.versions.node}; HAProxy ${r.versions.haproxy}, ` +
      `nginx ${r.versions.nginx}, fastify ${r.versions.fastify} + @fastify/http-proxy ${r.versions['@fastify/http-proxy']} ` +
      `(reply-from ${r.versions['@fastify/reply-from']}), wrk ${r.versions.wrk}, wrk2 ${r.versions.wrk2}. ` +
      `${r.settings.quick ? '**Quick run (--quick): one round of short runs; to try the suite, not to quote.** ' : ''}` +
      `Median of ${r.settings.reps} round(s); each round starts every target afresh. Took ${r.minutes} min. Regenerate with \`npm run bench\`.`,
    '',
  );
  out.push(
    `**What this machine allowed.** One-core targets run alone on core ${r.host.proxy_core}; wrk, wrk2 and the origins ` +
      `(one nginx process for both origins, a Node echo server for TCP) share core(s) ${r.host.load_cores.join(',')}. ` +
      `The N-core targets (N = ${n}) are pinned to all ${r.host.cores} cores, which they share with the load generator and the ` +
      `origins: there are no ${n} free cores here, so their scaling is a lower bound, and it is shown next to HAProxy's and ` +
      "nginx's on the same cores, which meet the same limit.",
    '',
  );

  // ---- issue 24: the default configuration, against HAProxy as usually run
  const spread = (xs: number[]) => `${Math.min(...xs).toFixed(2)} to ${Math.max(...xs).toFixed(2)}`;
  const pairedRps = (scenario: string, tapgate: string, haproxy: string) =>
    pairsOf(r.measurements, scenario, tapgate, haproxy).flatMap(([t, h]) => (t.rps && h.rps ? [t.rps / h.rps] : []));
  const checks24: [string, string, boolean | undefined][] = [];
  const dflt = (s: string, group = 'http') => get(group, 'tapgate-default', s),
    used = (s: string, group = 'http') => get(group, 'haproxy-used', s);
  const tuned = (s: string, group = 'http') => ratio(get(group, 'tapgate-1', s)?.rps, get(group, 'haproxy-1', s)?.rps);
  for (const [s, what, goal] of [
    ['ka', 'small keep-alive requests', 0.6],
    ['close', 'Connection: close', 0.5],
  ] as const) {
    const xs = pairedRps(s, 'tapgate-default', 'haproxy-used');
    const side = ratio(dflt(s)?.rps, used(s)?.rps);
    const decisive = xs.length ? median(xs) : side;
    checks24.push([
      `default configuration ≥ ${goal}× HAProxy as usually run, one core, ${what}`,
      `${xs.length ? `${x2(median(xs))} interleaved (median of ${xs.length} pairs: ${spread(xs)}); ` : ''}${x2(side)} by the side-by-side medians ` +
        `(${num(dflt(s)?.cpu_us_per_request, 1)} vs ${num(used(s)?.cpu_us_per_request, 1)} µs CPU a request); tuned: ${x2(tuned(s))}`,
      decisive === undefined ? undefined : decisive >= goal,
    ]);
  }
  for (const [s, what] of [
    ['64k', '64 KiB responses'],
    ['1m', '1 MiB responses'],
    ['upload', '1 MiB uploads'],
  ] as const) {
    const x = ratio(dflt(s)?.rps, used(s)?.rps);
    checks24.push([`${what} ≥ 0.7× HAProxy, default configuration`, `${x2(x)}; tuned: ${x2(tuned(s))}`, x === undefined ? undefined : x >= 0.7]);
  }
  for (const [s, what] of [
    ['tls-close', 'new TLS handshakes'],
    ['tls-ka', 'TLS keep-alive'],
  ] as const) {
    const x = ratio(dflt(s, 'tls')?.rps, used(s, 'tls')?.rps);
    checks24.push([`${what} ≥ 0.7× HAProxy, default configuration`, `${x2(x)}; tuned: ${x2(tuned(s, 'tls'))}`, x === undefined ? undefined : x >= 0.7]);
  }
  const cpu1 = dflt('ka')?.cpu_us_per_request,
    cpuN = get('http', `tapgate-${n}`, 'ka')?.cpu_us_per_request;
  const perWorker = ratio(cpuN, cpu1);
  checks24.push([
    `CPU per request with ${n} workers within 10% of 1 worker (default configuration, keep-alive)`,
    `${num(cpuN, 1)} vs ${num(cpu1, 1)} µs: ${perWorker === undefined ? 'n/a' : pct(perWorker - 1, true)} (the ${n} workers share the cores with the load, see above)`,
    perWorker === undefined ? undefined : perWorker <= 1.1,
  ]);
  // The default configuration's additions, each interleaved with the tuned baseline (the plugins group).
  for (const [t, what, goal] of [
    ['log', 'the access log (to a file)', 0.1],
    ['xff', 'X-Forwarded-For, -Proto and -Host', 0.03],
  ] as const) {
    const b = slicedCosts(r.measurements, t);
    const cost = b.rps.length ? median(b.rps) : undefined;
    checks24.push([
      `${what} costs ≤ ${goal * 100}% of throughput (against tapgate without it, keep-alive)`,
      cost === undefined
        ? 'not measured (the plugins group)'
        : `${pct(cost)} req/s, CPU/req ${pct(b.cpu.length ? median(b.cpu) : undefined, true)} (median of ${b.rps.length} interleaved pairs: ${spread(b.rps)})`,
      cost === undefined ? undefined : cost <= goal,
    ]);
  }
  // Suites before the worker was told apart read the larger of the master and its worker.
  const idleWorker = dflt('ka')?.idle_rss_worker_mb;
  const idleDefault = idleWorker ?? dflt('ka')?.idle_rss_max_process_mb;
  checks24.push([
    'idle RSS per worker ≤ 50 MB, default configuration',
    `${num(idleDefault, 1)} MB (${idleWorker === undefined ? 'the larger of the master and its worker' : 'the worker'}; ${num(dflt('ka')?.idle_rss_mb, 1)} MB its processes together)`,
    idleDefault === undefined ? undefined : idleDefault <= 50,
  ]);
  checks24.push([
    'the rest of issue 24 (10,000 idle connections, reloads, HTTP/2, cache HIT allocations)',
    '`bash bench/idle-memory.sh`, `bench/reload-loss.sh`, `bench/h2.sh`, `bench/cache.ts`: not part of this suite',
    undefined,
  ]);
  if (checks24.some(([, , ok]) => ok !== undefined)) {
    out.push('## The targets of issue 24: the default configuration, as users run it', '');
    out.push(
      'tapgate with its default configuration (the `workers` default: one worker process on one core; the access log written to a file; ' +
        'X-Forwarded-For, -Proto and -Host added) against HAProxy as it is usually run (`option httplog` to a UDP syslog sink, ' +
        '`option forwardfor`). "tuned": tapgate `workers: 0` without access log and X-Forwarded-* against plain HAProxy, for comparison.',
      '',
    );
    out.push(row(['target', 'measured', 'verdict']), row(['---', '---', '---']));
    for (const [what, m, ok] of checks24) out.push(row([what, m, yes(ok)]));
    out.push('');
  }

  // ---- targets of the issue
  const tg = (s: string) => get('http', 'tapgate-1', s);
  const hp = (s: string) => get('http', 'haproxy-1', s);
  const ff = (s: string) => get('http', 'fastify', s);
  const pl = (t: string, s = 'ka') => get('plugins', t, s);
  const checks: [string, string, boolean | undefined][] = [];
  const ka = ratio(tg('ka')?.rps, hp('ka')?.rps),
    close = ratio(tg('close')?.rps, hp('close')?.rps);
  // Where interleaved pairs were measured, their median ratio decides: it compares the two on the same machine state.
  const P = pairedRatios(r.measurements);
  const pairedKa = P.ka.length ? median(P.ka) : undefined,
    pairedP99 = P.p99.length ? median(P.p99) : undefined;
  checks.push([
    'one worker ≥ 0.6× HAProxy nbthread 1, small keep-alive',
    pairedKa === undefined ? x2(ka) : `${x2(pairedKa)} interleaved (median of ${P.ka.length} pairs: ${spread(P.ka)}); ${x2(ka)} by the side-by-side medians`,
    (pairedKa ?? ka) === undefined ? undefined : (pairedKa ?? ka)! >= 0.6,
  ]);
  checks.push(['one worker ≥ 0.5× HAProxy nbthread 1, Connection: close', x2(close), close === undefined ? undefined : close >= 0.5]);
  const vsF = ratio(tg('ka')?.rps, ff('ka')?.rps);
  checks.push([
    'one worker ≥ 1.5× @fastify/http-proxy (keep-alive)',
    `${x2(vsF)} (close: ${x2(ratio(tg('close')?.rps, ff('close')?.rps))})`,
    vsF === undefined ? undefined : vsF >= 1.5,
  ]);
  const p99 = ratio(tg('latency')?.p99_ms, hp('latency')?.p99_ms);
  const sideP99 = `${ms(tg('latency')?.p99_ms)} vs ${ms(hp('latency')?.p99_ms)} ms: ${x2(p99)}`;
  checks.push([
    `p99 ≤ 2× HAProxy's at the same load (${num(r.settings.rate)} req/s)`,
    pairedP99 === undefined ? sideP99 : `${x2(pairedP99)} interleaved (median of ${P.p99.length} pairs: ${spread(P.p99)}); side by side ${sideP99}`,
    (pairedP99 ?? p99) === undefined ? undefined : (pairedP99 ?? p99)! <= 2,
  ]);
  const baseP = pl('base'),
    baseL = pl('base', 'latency');
  /**
   * A configuration's cost: against the baseline interleaved with it where measured so
   * (median over every pair), else against the baseline's median; `pairs` says which.
   */
  const pluginCost = (t: string): { rps?: number; cpu?: number; dp99?: number; p99Pairs?: number[] } => {
    const b = slicedCosts(r.measurements, t);
    const l = pl(t, 'latency');
    const dp99 = b.p99.length ? median(b.p99) : baseL && l ? l.p99_ms! - baseL.p99_ms! : undefined;
    const p99Pairs = b.p99.length ? b.p99 : undefined;
    if (b.rps.length) return { rps: median(b.rps), cpu: b.cpu.length ? median(b.cpu) : undefined, dp99, p99Pairs };
    const a = pl(t);
    if (!baseP || !a) return { dp99, p99Pairs };
    return {
      rps: 1 - a.rps! / baseP.rps!,
      cpu: baseP.cpu_us_per_request && a.cpu_us_per_request ? a.cpu_us_per_request / baseP.cpu_us_per_request - 1 : undefined,
      dp99,
      p99Pairs,
    };
  };
  const plus = (d: number) => `${d >= 0 ? '+' : ''}${d.toFixed(2)}`;
  for (const p of ['cache', 'jwt', 'rate-limit', 'stats']) {
    const { rps: cost, cpu, dp99, p99Pairs } = pluginCost(p);
    // The pairs' middle half wider than twice the target: the host's own p99 noise is larger than what is judged.
    const q = p99Pairs && quartiles(p99Pairs);
    const tooSpread = q !== undefined && q[1] - q[0] > 0.5;
    const p99 =
      dp99 === undefined
        ? 'n/a'
        : `${plus(dp99)} ms${p99Pairs ? ` (median of ${p99Pairs.length} interleaved pairs at ${num(r.settings.plugin_rate)} req/s, middle half ${plus(q![0])} to ${plus(q![1])} ms${tooSpread ? ': too spread to judge 0.25 ms' : ''})` : ''}`;
    const rpsMet = cost === undefined ? undefined : cost <= 0.05;
    checks.push([
      `${p} alone costs ≤ 5% req/s and ≤ 0.25 ms p99`,
      `${pct(cost)} req/s (CPU/req ${pct(cpu, true)}), p99 ${p99}`,
      rpsMet === false ? false : cost === undefined || dp99 === undefined || tooSpread ? undefined : rpsMet! && dp99 <= 0.25,
    ]);
  }
  for (const [t, what] of [
    ['chain5', 'cache HITs'],
    ['chain5-miss', 'nothing cacheable: every request proxied'],
  ] as const) {
    const { rps: cost, cpu } = pluginCost(t);
    checks.push([
      `a chain of five costs ≤ 20% req/s (${what})`,
      `${pct(cost)} req/s (CPU/req ${pct(cpu, true)})`,
      cost === undefined ? undefined : cost <= 0.2,
    ]);
  }
  // tapgate-N runs the default configuration: its one-worker counterpart is tapgate-default.
  const one = (k: string) => (k === 'tapgate' && get('http', 'tapgate-default', 'ka') ? 'tapgate-default' : `${k}-1`);
  const scale = (k: string) => ratio(get('http', `${k}-${n}`, 'ka')?.rps, get('http', one(k), 'ka')?.rps);
  checks.push([
    `throughput ≥ 1.7× at ${n} workers (here: sharing the cores with the load, see above)`,
    `${x2(scale('tapgate'))} (HAProxy ${x2(scale('haproxy'))}, nginx ${x2(scale('nginx'))} on the same cores)`,
    scale('tapgate') === undefined ? undefined : scale('tapgate')! >= 1.7,
  ]);
  const idle1 = tg('ka')?.idle_rss_max_process_mb,
    idleN = get('http', `tapgate-${n}`, 'ka')?.idle_rss_max_process_mb;
  checks.push([
    'idle RSS per worker ≤ 80 MB',
    `${num(idle1, 1)} MB (workers: 0); largest of ${n} workers + master: ${num(idleN, 1)} MB`,
    idle1 === undefined ? undefined : idle1 <= 80 && (idleN === undefined || idleN <= 80),
  ]);
  checks.push(['memory flat over a 10-minute soak', 'see soak.md (`npm run bench:soak`, not part of this suite)', undefined]);
  out.push('## The targets of issue 10', '', row(['target', 'measured', 'verdict']), row(['---', '---', '---']));
  for (const [what, m, ok] of checks) out.push(row([what, m, yes(ok)]));
  out.push('');

  // ---- interleaved pairs
  for (const [tgId, hpId] of [
    ['tapgate-default', 'haproxy-used'],
    ['tapgate-1', 'haproxy-1'],
  ] as const) {
    const scenarios = ['ka', 'close'].filter((s) => pairsOf(r.measurements, s, tgId, hpId).length);
    const latPairs = pairsOf(r.measurements, 'latency', tgId, hpId);
    if (!scenarios.length && !latPairs.length) continue;
    out.push(`## Interleaved: ${r.targets[hpId] ?? hpId} and ${r.targets[tgId] ?? tgId}`, '');
    out.push(
      `Both run side by side on the proxy core (HAProxy on a second port) and the load goes to one, then the other, the order ` +
        `alternating: ${num(Number(r.settings.slices))} pairs of ${num(Number(r.settings.slice_s))} s wrk runs of each scenario (${scenarios.join(', ')}) a round, then ` +
        `${num(Number(r.settings.pairs))} pairs of wrk2 runs at ${num(r.settings.rate)} req/s. The issues' ratios are the ` +
        'medians over these pairs: on a shared host the machine drifts between the side-by-side runs of two targets, minutes apart.',
      '',
    );
    for (const s of scenarios) {
      out.push(`**${s}** (${r.scenarios[s] ?? s})`, '');
      out.push(row(['round', 'pair', 'HAProxy req/s', 'tapgate req/s', 'ratio', 'HAProxy µs CPU/req', 'tapgate µs CPU/req']), rule(7));
      for (const [t, h] of pairsOf(r.measurements, s, tgId, hpId))
        out.push(row([t.round, t.pair ?? '', num(h.rps), num(t.rps), x2(ratio(t.rps, h.rps)), num(h.cpu_us_per_request, 1), num(t.cpu_us_per_request, 1)]));
      out.push('');
    }
    if (latPairs.length) {
      out.push(row(['round', 'pair', 'HAProxy p50 / p99 ms', 'tapgate p50 / p99 ms', 'p99 ratio']), rule(5));
      for (const [t, h] of latPairs)
        out.push(row([t.round, t.pair ?? '', `${ms(h.p50_ms)} / ${ms(h.p99_ms)}`, `${ms(t.p50_ms)} / ${ms(t.p99_ms)}`, x2(ratio(t.p99_ms, h.p99_ms))]));
      out.push('');
    }
  }

  // ---- side by side
  if (httpIds.length) {
    out.push('## Side by side: most req/s (wrk, closed loop)', '');
    out.push(
      `wrk -t1 -c${r.settings.connections} (10 for the 1 MiB scenarios), ${r.settings.duration_s} s after a ${r.settings.warmup_s} s warm-up. ` +
        '"× HAProxy" compares with HAProxy on the same cores (nbthread 1 for one-core targets, N for N-core ones); "× fastify" with fastify + ' +
        '@fastify/http-proxy, the best (and only) Node peer measured, on one core. Scenarios: ' +
        httpScenarios.map((s) => `**${s}** ${r.scenarios[s]}`).join('; ') +
        '.',
      '',
    );
    out.push(row(['target', ...httpScenarios.map((s) => `${s} req/s`)]), rule(httpScenarios.length + 1));
    for (const t of httpIds) out.push(row([r.targets[t]!, ...httpScenarios.map((s) => num(get('http', t, s)?.rps))]));
    out.push('', row(['target', ...httpScenarios.flatMap((s) => [`${s} × HAProxy`, `${s} × fastify`])]), rule(2 * httpScenarios.length + 1));
    for (const t of httpIds.filter((x) => x !== 'direct')) {
      out.push(
        row([
          r.targets[t]!,
          ...httpScenarios.flatMap((s) => [
            x2(ratio(get('http', t, s)?.rps, get('http', sameCoresHaproxy(t), s)?.rps)),
            x2(ratio(get('http', t, s)?.rps, get('http', 'fastify', s)?.rps)),
          ]),
        ]),
      );
    }
    out.push('', '### Latency at one fixed rate (wrk2, corrected for coordinated omission)', '');
    out.push(
      `wrk2 -t1 -c${r.settings.connections} -R${r.settings.rate} (75% of the slowest one-core target's req/s, measured at the start), keep-alive, 6 B responses: ` +
        `every target gets the same load. Latency is measured from the time each request was due to be sent, so a stall delays the ` +
        `requests queued behind it and shows in the tail. ${r.settings.calibration_s} s of calibration (not recorded), then ${r.settings.latency_duration_s} s recorded. ms.`,
      '',
    );
    out.push(row(['target', 'req/s done', 'p50', 'p99', 'p99.9', 'p99 × HAProxy 1', 'CPU µs/req', 'target CPU', 'errors']), rule(9));
    for (const t of httpIds) {
      const l = get('http', t, 'latency');
      if (!l) continue;
      out.push(
        row([
          r.targets[t]!,
          num(l.rps),
          ms(l.p50_ms),
          ms(l.p99_ms),
          ms(l.p999_ms),
          x2(ratio(l.p99_ms, hp('latency')?.p99_ms)),
          num(l.cpu_us_per_request, 1),
          `${num(l.target_cpu_pct)}%`,
          num(l.errors),
        ]),
      );
    }
    out.push('', '### CPU per request and memory', '');
    out.push(
      "CPU µs/req: CPU time (user + system) of the target's processes during the wrk run ÷ requests served (for direct: none; " +
        "kernel work done on behalf of the process in softirq is not all in it). Idle RSS: all the target's processes a second after start; " +
        "peak RSS: the highest sum seen during the scenario's run (sampled every 250 ms).",
      '',
    );
    out.push(
      row(['target', ...httpScenarios.map((s) => `${s} µs/req`), 'processes', 'idle RSS MB', ...httpScenarios.map((s) => `${s} peak RSS MB`)]),
      rule(2 * httpScenarios.length + 3),
    );
    for (const t of httpIds.filter((x) => x !== 'direct')) {
      out.push(
        row([
          r.targets[t]!,
          ...httpScenarios.map((s) => num(get('http', t, s)?.cpu_us_per_request, 1)),
          num(get('http', t, 'ka')?.processes),
          num(get('http', t, 'ka')?.idle_rss_mb, 1),
          ...httpScenarios.map((s) => num(get('http', t, s)?.peak_rss_mb, 1)),
        ]),
      );
    }
    out.push('');
  }

  // ---- TLS
  const tlsIds = ['haproxy-used', 'tapgate-default', 'haproxy-1', 'nginx-1', 'tapgate-1'].filter((t) => get('tls', t, 'tls-ka'));
  if (tlsIds.length) {
    out.push('## TLS termination (one core each)', '');
    out.push(
      "A self-signed ECDSA P-256 certificate made at the start; TLS 1.3 (wrk's OpenSSL 3 client and each server's default); " +
        '"new handshakes" is wrk with Connection: close over https: one full handshake per request (wrk does not resume sessions). ' +
        '"× HAProxy" against HAProxy nbthread 1 (the default configuration against HAProxy as usually run).',
      '',
    );
    out.push(row(['target', 'handshakes/s', 'p99', 'µs/req', '× HAProxy', 'keep-alive req/s', 'p99', 'µs/req', '× HAProxy']), rule(9));
    for (const t of tlsIds) {
      const a = get('tls', t, 'tls-close'),
        b = get('tls', t, 'tls-ka');
      out.push(
        row([
          r.targets[t]!,
          num(a?.rps),
          ms(a?.p99_ms),
          num(a?.cpu_us_per_request, 1),
          x2(ratio(a?.rps, get('tls', sameCoresHaproxy(t), 'tls-close')?.rps)),
          num(b?.rps),
          ms(b?.p99_ms),
          num(b?.cpu_us_per_request, 1),
          x2(ratio(b?.rps, get('tls', sameCoresHaproxy(t), 'tls-ka')?.rps)),
        ]),
      );
    }
    out.push('');
  }

  // ---- TCP
  const tcpIds = ['direct', 'haproxy-1', 'tapgate-1'].filter((t) => get('tcp', t, 'echo'));
  if (tcpIds.length) {
    out.push('## TCP mode: echo throughput', '');
    out.push(
      `A Node echo server (socket.pipe(socket)) behind each proxy in mode tcp; a Node client on the load core keeps 8 connections busy with 64 KiB ` +
        `writes (at most 4 MiB in flight each) for ${r.settings.duration_s} s. MB/s echoed back to the client (10^6 bytes). The load side is Node ` +
        'too, so "direct" is its ceiling.',
      '',
    );
    out.push(row(['target', 'MB/s', 'target CPU', 'core busy', '× HAProxy', '× direct']), rule(6));
    for (const t of tcpIds) {
      const e = get('tcp', t, 'echo')!;
      out.push(
        row([
          t === 'direct' ? 'direct (echo origin, no proxy)' : t === 'haproxy-1' ? 'HAProxy nbthread 1, mode tcp' : 'tapgate workers: 0, mode tcp',
          num(e.mb_s),
          t === 'direct' ? 'n/a' : `${num(e.target_cpu_pct)}%`,
          t === 'direct' ? 'n/a' : `${num(e.cores_busy_pct)}%`,
          x2(ratio(e.mb_s, get('tcp', 'haproxy-1', 'echo')?.mb_s)),
          x2(ratio(e.mb_s, get('tcp', 'direct', 'echo')?.mb_s)),
        ]),
      );
    }
    out.push('');
  }

  // ---- plugins
  const plIds = Object.keys(r.targets).filter((t) => get('plugins', t, 'ka'));
  if (plIds.length && baseP) {
    out.push('## tapgate plugins and routes, each against tapgate alone', '');
    out.push(
      'tapgate workers: 0 on one core; every request is `GET /cached` (the origin answers `Cache-Control: public, max-age=3600`) with ' +
        'an ES256 bearer token, the same in every row; the routes rows add a Host header matching the last route. ' +
        `Most req/s with wrk; latency with wrk2 at ${num(r.settings.plugin_rate)} req/s for every row (${Math.round(100 * Number(r.settings.plugin_rate_share ?? 0.6))}% of the slower of the baseline and the chain with cache HITs, measured at the start). ` +
        'The stats plugin is autoloaded, so it counts in every row, the baseline included; its row adds the stats listener and a client reading ' +
        '/stats.json every second. Chain of five: stats listener + rate-limit + jwt + cache + rewrite (a request and a response header set); ' +
        'with cache HITs, and again on `GET /nostore` (`Cache-Control: no-store`), where the cache stores nothing and every request goes to the origin.',
      '',
    );
    out.push(
      '"cost": req/s lost against the baseline; "CPU cost": CPU time per request added, against the baseline\'s (steadier than req/s ' +
        'on a shared machine: the two disagree when something else took the core). The costs come from interleaved runs: the ' +
        `configuration and the baseline run side by side on the proxy core and wrk loads them in turn, ${num(Number(r.settings.slices))} pairs of ` +
        `${num(Number(r.settings.slice_s))} s runs a round, the order alternating; the cost shown is the median over every pair. ` +
        (r.measurements.some((m) => m.scenario === 'latency-pair')
          ? `"Δ p99" likewise: ${num(Number(r.settings.pairs))} pairs of wrk2 runs a round, the median over every pair of the configuration's p99 less the baseline's. `
          : '"Δ p99": against the baseline\'s own latency run. ') +
        'req/s, CPU µs/req and ' +
        "latency are each configuration's own runs alone (medians of the rounds).",
      '',
    );
    out.push(row(['configuration', 'req/s', 'cost', 'CPU µs/req', 'CPU cost', 'p50', 'p99', 'p99.9', 'Δ p99 ms', 'peak RSS MB', 'errors']), rule(11));
    for (const t of plIds) {
      const a = pl(t)!,
        l = pl(t, 'latency');
      const c = t === 'base' ? undefined : pluginCost(t);
      const cost = c ? pct(c.rps) : '—',
        cpuCost = c ? pct(c.cpu, true) : '—';
      const d = c?.dp99;
      out.push(
        row([
          r.targets[t]!,
          num(a.rps),
          cost,
          num(a.cpu_us_per_request, 1),
          cpuCost,
          ms(l?.p50_ms),
          ms(l?.p99_ms),
          ms(l?.p999_ms),
          d === undefined ? '—' : plus(d),
          num(a.peak_rss_mb, 1),
          num(a.errors + (l?.errors ?? 0)),
        ]),
      );
    }
    out.push('');
  }

  // ---- noise and details
  const notes: string[] = [];
  const noisy = r.measurements.filter((m) => m.other_cpu_pct > 5);
  if (noisy.length)
    notes.push(
      `**Noisy runs:** in ${noisy.length} of ${r.measurements.length} runs, processes outside the benchmark used more than 5% of a core (after one retry): ` +
        noisy.map((m) => `${m.group}/${m.target}/${m.scenario}#${m.round} (${m.other_cpu_pct}%)`).join(', ') +
        '.',
    );
  const unstable = [...C.values()].filter((c) => c.rps_each.length > 1 && Math.max(...c.rps_each) > 1.5 * Math.min(...c.rps_each));
  if (unstable.length)
    notes.push(
      `**Unstable:** the rounds differ by more than 1.5× in ${unstable.map((c) => `${c.group}/${c.target}/${c.scenario} (${c.rps_each.map((x) => num(x)).join(' / ')})`).join(', ')}: ` +
        'the median picks one round, read these with care (a busy machine, or the code measured changed between rounds).',
    );
  const errs = r.measurements.filter((m) => m.errors > 0);
  if (errs.length)
    notes.push(`**Errors** (socket errors or non-2xx answers): ${errs.map((m) => `${m.group}/${m.target}/${m.scenario}#${m.round}: ${m.errors}`).join(', ')}.`);
  const loadBound = [...C.values()].filter(
    (c) => c.group !== 'tcp' && c.target !== 'direct' && !c.scenario.startsWith('latency') && c.load_busy_pct !== undefined && c.cores_busy_pct < 90,
  );
  if (loadBound.length)
    notes.push(
      `**Load-bound:** the proxy core was under 90% busy in ${loadBound.map((c) => `${c.group}/${c.target}/${c.scenario} (${c.cores_busy_pct}%)`).join(', ')}: ` +
        'there the load side, not the proxy, was the limit and req/s is a lower bound; CPU µs/req still compares fairly.',
    );
  if (notes.length) out.push('## Warnings', '', ...notes.flatMap((x) => [x, '']));

  out.push(
    '## Every run',
    '',
    "req/s (MB/s for TCP) of each round, then the medians of: busy share of the target's cores, of the load core, " +
      "CPU of the target's processes (% of one core), and of processes outside the benchmark.",
    '',
  );
  out.push(
    row(['group', 'target', 'scenario', 'each round', 'cores busy', 'load core', 'target CPU', 'others']),
    row(['---', '---', '---', '---:', '---:', '---:', '---:', '---:']),
  );
  for (const c of C.values()) {
    out.push(
      row([
        c.group,
        c.target,
        c.scenario,
        c.rps_each.map((x) => num(x)).join(' / '),
        `${num(c.cores_busy_pct)}%`,
        c.load_busy_pct === undefined ? 'shared' : `${num(c.load_busy_pct)}%`,
        `${num(c.target_cpu_pct)}%`,
        `${num(c.other_cpu_pct)}%`,
      ]),
    );
  }
  out.push('');

  mkdirSync(dir, { recursive: true });
  const md = join(dir, `${name}.md`),
    json = join(dir, `${name}.json`);
  writeFileSync(md, out.join('\n'));
  const medians = Object.fromEntries([...C.entries()].map(([k, c]) => [k, c]));
  writeFileSync(
    json,
    `${JSON.stringify({ ...r, targets_of_issue: [...checks24, ...checks].map(([what, measured, ok]) => ({ what, measured, met: ok ?? null })), medians }, null, 2)}\n`,
  );
  return [md, json];
}
