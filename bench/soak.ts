// Soak (npm run bench:soak): tapgate under steady load for a bounded time, its memory
// sampled all along, to see whether it stays flat. Not part of `npm run bench` (nor CI).
//
//   npm run bench:soak                        # 10 minutes at 5,000 req/s
//   npm run bench:soak -- --minutes 3 --rate 3000 --workers 1
//
// tapgate runs pinned to the proxy core with the suite's chain of five plugins (stats
// listener, rate-limit, jwt, cache, rewrite) on `GET /nostore`, so every request crosses
// every plugin and goes to the origin; --plain runs it without plugins. wrk2 holds the
// rate (open loop). Every --interval seconds (default 5): the RSS of tapgate's processes
// from /proc, and process.memoryUsage() from inside each (a module preloaded with
// NODE_OPTIONS=--require). Verdict: flat when the last quarter's median RSS and heap are
// within 10% (and 10 MB) of the first quarter's (after the first minute's warm-up, when
// the run is long enough), and the fitted slope is small. Writes bench/results/soak.md
// and soak.json.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureWrk2, runLoad } from './suite/load.ts';
import { killAll, rssOf, stopTree, tree } from './suite/procs.ts';
import { pluginTargets, ports, prepare, startOrigins, startTarget, type Context } from './suite/targets.ts';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args[i + 1]);
};
if (args.includes('-h') || args.includes('--help')) {
  console.log('usage: node --import tsx bench/soak.ts [--minutes N (10)] [--rate R (5000)] [--interval S (5)] [--workers N (0)] [--plain]');
  process.exit(0);
}
const minutes = opt('--minutes', 10),
  rate = opt('--rate', 5000),
  interval = opt('--interval', 5),
  workers = opt('--workers', 0);
const plain = args.includes('--plain');
if (!(minutes > 0 && minutes <= 120 && rate > 0 && interval >= 1)) throw new Error('--minutes 0..120, --rate > 0, --interval ≥ 1');
const log = (s: string) => process.stderr.write(`[soak] ${s}\n`);

const allowed = os.availableParallelism();
const proxyCore = Number(process.env.BENCH_PROXY_CPU ?? allowed - 1);
const loadCpus = Array.from({ length: allowed }, (_, i) => i)
  .filter((c) => c !== proxyCore)
  .join(',');
const work = process.env.BENCH_WORK ?? join(root, '.bench-work');
const run = join(work, 'soak');
rmSync(run, { recursive: true, force: true });
mkdirSync(run, { recursive: true });
process.on('exit', killAll);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => process.exit(130));

const ctx0 = {
  root,
  run,
  ports: ports(Number(process.env.BENCH_PORT_BASE ?? 18300)),
  proxyCpus: String(proxyCore),
  allCpus: String(proxyCore),
  loadCpus,
  n: 1,
};
const wrk2 = ensureWrk2(join(work, 'tools'), log);
const c: Context = { ...ctx0, jwtToken: await prepare(ctx0) };
const origins = await startOrigins(c);
const target = { ...pluginTargets().find((t) => t.id === (plain ? 'base' : 'chain5-miss'))!, workers };
const memlog = join(run, 'memory.jsonl');
const proc = (await startTarget(c, target, 'http', {
  NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require=${join(import.meta.dirname, 'suite/mem-probe.cjs')}`.trim(),
  TAPGATE_MEMLOG: memlog,
  TAPGATE_MEMLOG_MS: String(interval * 1000),
}))!;
const commit = (() => {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root }).toString().trim();
  } catch {
    return 'unknown';
  }
})();

log(
  `tapgate (${plain ? 'no plugins' : 'chain of five, every request proxied'}, workers: ${workers}) on core ${proxyCore}; wrk2 at ${rate} req/s for ${minutes} min`,
);
const t0 = Date.now();
const rss: { t: number; mb: number }[] = [];
const sample = () =>
  rss.push({
    t: (Date.now() - t0) / 1000,
    mb:
      rssOf(
        tree(proc.pid).filter((p) => {
          try {
            return !readFileSync(`/proc/${p}/comm`, 'utf8').startsWith('taskset');
          } catch {
            return false;
          }
        }),
      ) /
      2 ** 20,
  });
sample();
const sampler = setInterval(sample, interval * 1000);
const progress = setInterval(() => log(`${Math.round((Date.now() - t0) / 60_000)} of ${minutes} min, RSS ${rss.at(-1)!.mb.toFixed(1)} MB`), 60_000);
const result = await runLoad({
  cpus: loadCpus,
  port: c.ports.http,
  req: { path: target.path ?? '/cached', headers: [`Authorization: Bearer ${c.jwtToken}`] },
  seconds: Math.round(minutes * 60),
  connections: 50,
  dir: run,
  rate,
  wrk2,
});
clearInterval(sampler);
clearInterval(progress);
sample();
await stopTree(proc);
for (const o of origins) await stopTree(o);

// ---- analysis
interface Series {
  name: string;
  unit: string;
  points: { t: number; v: number }[];
}
const probe = existsSync(memlog)
  ? readFileSync(memlog, 'utf8')
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((l) => JSON.parse(l) as Record<string, number>)
  : [];
const byTime = (key: string): { t: number; v: number }[] => {
  // Sum over processes, per sampling tick (lines of one tick are within a second of each other).
  const ticks = new Map<number, number>();
  for (const p of probe) ticks.set(Math.round((p.t! - t0) / 1000 / interval), (ticks.get(Math.round((p.t! - t0) / 1000 / interval)) ?? 0) + p[key]! / 2 ** 20);
  return [...ticks].sort((a, b) => a[0] - b[0]).map(([k, v]) => ({ t: k * interval, v }));
};
const series: Series[] = [
  { name: 'RSS, all processes (/proc)', unit: 'MB', points: rss.map((p) => ({ t: p.t, v: p.mb })) },
  { name: 'heap used (process.memoryUsage)', unit: 'MB', points: byTime('heapUsed') },
  { name: 'heap total', unit: 'MB', points: byTime('heapTotal') },
  { name: 'external + array buffers', unit: 'MB', points: byTime('external') },
];
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1] ?? NaN;
};
const warmup = minutes >= 4 ? 60 : 0;
const analyse = (s: Series) => {
  const pts = s.points.filter((p) => p.t >= warmup);
  const q = Math.max(1, Math.floor(pts.length / 4));
  const first = median(pts.slice(0, q).map((p) => p.v)),
    last = median(pts.slice(-q).map((p) => p.v));
  const n = pts.length,
    mt = pts.reduce((a, p) => a + p.t, 0) / n,
    mv = pts.reduce((a, p) => a + p.v, 0) / n;
  const slope = (pts.reduce((a, p) => a + (p.t - mt) * (p.v - mv), 0) / (pts.reduce((a, p) => a + (p.t - mt) ** 2, 0) || 1)) * 60; // MB per minute
  const growth = last - first;
  const flat = growth <= Math.max(10, 0.1 * first);
  return {
    name: s.name,
    samples: n,
    first_quarter_mb: Number(first.toFixed(1)),
    last_quarter_mb: Number(last.toFixed(1)),
    growth_mb: Number(growth.toFixed(1)),
    slope_mb_per_min: Number(slope.toFixed(2)),
    max_mb: Number(Math.max(...pts.map((p) => p.v)).toFixed(1)),
    flat,
  };
};
const rows = series.filter((s) => s.points.length >= 2).map(analyse);
// No heap samples (the probe did not load): no verdict, rather than one on RSS alone.
const heapSampled = rows.some((r) => r.name.startsWith('heap used'));
const flat = heapSampled && rows.filter((r) => /RSS|heap used/.test(r.name)).every((r) => r.flat);
const md = [
  `# tapgate soak (commit ${commit}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC)`,
  '',
  `${os.cpus()[0]?.model}, Node ${process.version}. tapgate workers: ${workers} on core ${proxyCore}, ${plain ? 'no plugins' : "the suite's chain of five (stats listener, rate-limit, jwt, cache, rewrite) with nothing cacheable, so every request crosses every plugin and reaches the origin"}; ` +
    `wrk2 -c50 at ${rate} req/s for ${minutes} min (${Math.round(result.rps)} req/s done, ${result.requests.toLocaleString('en-US')} requests, ` +
    `${Object.values(result.errors).reduce((a, b) => a + b, 0)} errors; latency p50 ${result.p50_ms.toFixed(2)}, p99 ${result.p99_ms.toFixed(2)}, p99.9 ${result.p999_ms.toFixed(2)} ms). ` +
    `Memory sampled every ${interval} s${warmup ? `; the first ${warmup} s are warm-up and left out` : ''}.`,
  '',
  `**Verdict: ${!heapSampled ? 'none: the heap was not sampled (the memory probe did not load)' : flat ? 'flat' : 'NOT flat'}** (flat: the last quarter's median within 10% or 10 MB of the first quarter's, for RSS and heap used).`,
  '',
  '| series | samples | first quarter MB | last quarter MB | growth MB | slope MB/min | max MB | flat |',
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ...rows.map(
    (r) =>
      `| ${r.name} | ${r.samples} | ${r.first_quarter_mb} | ${r.last_quarter_mb} | ${r.growth_mb} | ${r.slope_mb_per_min} | ${r.max_mb} | ${r.flat ? 'yes' : 'no'} |`,
  ),
  '',
  'RSS over time (MB, one value a minute or so):',
  '',
  '```',
  rss
    .filter((_, i) => i % Math.max(1, Math.round(60 / interval)) === 0)
    .map((p) => `${(p.t / 60).toFixed(1).padStart(5)} min  ${p.mb.toFixed(1)}`)
    .join('\n'),
  '```',
  '',
].join('\n');
mkdirSync(join(root, 'bench/results'), { recursive: true });
writeFileSync(join(root, 'bench/results/soak.md'), md);
writeFileSync(
  join(root, 'bench/results/soak.json'),
  `${JSON.stringify({ commit, minutes, rate, workers, plain, interval, load: result, flat, series: rows, rss, probe_samples: probe.length }, null, 2)}\n`,
);
console.log(md);
process.exit(flat ? 0 : 1);
