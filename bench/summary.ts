// summary.ts ANCHORS_JSON ANCHORS_MD COMMIT OUT_MD OUT_JSON: put tapgate's numbers
// first. anchors.sh compares every target with HAProxy; this adds the comparison
// with the direct origin (the ceiling) and keeps anchors.sh's full report below.
import { readFileSync, writeFileSync } from 'node:fs';

interface Cell {
  rps: number;
  p99_ms: number;
  proxy_cpu_pct: number;
  cpu_us_per_request: number | null;
  vs_haproxy: number | null;
  vs_haproxy_per_core: number | null;
  errors: Record<string, number>;
}

interface AnchorsReport {
  generated: string;
  settings: { duration_s: number; reps: number; connections: number };
  scenarios: Record<string, string>;
  targets: Record<string, { label: string; results: Record<string, Cell> }>;
}

const [jsonFile, mdFile, commit, outMd, outJson] = process.argv.slice(2);
if (!outJson) throw new Error('usage: summary.ts ANCHORS_JSON ANCHORS_MD COMMIT OUT_MD OUT_JSON');

const report = JSON.parse(readFileSync(jsonFile, 'utf8')) as AnchorsReport;
const anchorsMd = readFileSync(mdFile, 'utf8');
const results = (target: string) => report.targets[target]?.results ?? {};
const tapgate = results('tapgate');
const direct = results('direct');
const haproxy = results('haproxy');

const ratio = (a: number | null | undefined, b: number | null | undefined) => (a != null && b ? Number((a / b).toFixed(3)) : null);

const summary = Object.keys(report.scenarios).flatMap((scenario) => {
  const t = tapgate[scenario];
  if (!t) return [];
  const d = direct[scenario];
  const h = haproxy[scenario];
  return [
    {
      scenario,
      tapgate: { rps: t.rps, p99_ms: t.p99_ms, cpu_us_per_request: t.cpu_us_per_request, proxy_core_busy_pct: t.proxy_cpu_pct, errors: t.errors },
      direct: d ? { rps: d.rps, p99_ms: d.p99_ms } : null,
      haproxy: h ? { rps: h.rps, p99_ms: h.p99_ms, cpu_us_per_request: h.cpu_us_per_request } : null,
      /** tapgate req/s ÷ direct req/s. */
      vs_direct: ratio(t.rps, d?.rps),
      /** tapgate req/s ÷ HAProxy req/s. */
      vs_haproxy: t.vs_haproxy,
      /** HAProxy µs/request ÷ tapgate µs/request: throughput per core relative to HAProxy. */
      vs_haproxy_per_core: t.vs_haproxy_per_core,
    },
  ];
});
if (!summary.length) throw new Error(`no tapgate results in ${jsonFile}`);

const fmt = (x: number | null | undefined, digits = 0) =>
  x == null ? 'n/a' : x.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
const row = (cells: string[]) => `| ${cells.join(' | ')} |`;
const { duration_s, reps, connections } = report.settings;

const md = [
  `# tapgate benchmark (commit ${commit})`,
  '',
  `tapgate with one in-process worker, measured by anchors.sh next to the origin without a proxy ("direct", the ceiling ` +
    `of the load side) and HAProxy nbthread 1: wrk -c${connections}, ${duration_s} s runs, median of ${reps} rounds. ` +
    'p99 in ms; µs/req is proxy-core time per request; "× HAProxy per core" is HAProxy\'s µs/req ÷ tapgate\'s. ' +
    'Regenerate with `npm run bench:anchors`.',
  '',
  row([
    'scenario',
    'tapgate req/s',
    'p99',
    'µs/req',
    'core busy',
    'direct req/s',
    'direct p99',
    '× direct',
    'HAProxy req/s',
    'HAProxy p99',
    '× HAProxy',
    '× HAProxy per core',
  ]),
  row(['---', ...Array<string>(11).fill('---:')]),
  ...summary.map((s) =>
    row([
      s.scenario,
      fmt(s.tapgate.rps),
      fmt(s.tapgate.p99_ms, 2),
      fmt(s.tapgate.cpu_us_per_request, 1),
      `${s.tapgate.proxy_core_busy_pct}%`,
      fmt(s.direct?.rps),
      fmt(s.direct?.p99_ms, 2),
      fmt(s.vs_direct, 2),
      fmt(s.haproxy?.rps),
      fmt(s.haproxy?.p99_ms, 2),
      fmt(s.vs_haproxy, 2),
      fmt(s.vs_haproxy_per_core, 2),
    ]),
  ),
  '',
  // anchors.sh's own report, one heading level down
  anchorsMd.trim().replace(/^(#+) /gm, '#$1 '),
  '',
].join('\n');

writeFileSync(outMd, md);
writeFileSync(outJson, `${JSON.stringify({ commit, summary, anchors: report }, null, 2)}\n`);
