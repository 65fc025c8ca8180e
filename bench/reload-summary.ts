// reload-summary.ts: turns the shared reload-loss.sh results into
// bench/results/reload-loss.{md,json} (run by bench/reload-loss.sh).
//
// For every variant: failed/total and the kind of failures (from the shared
// JSON) and the error lines of the raw wrk output. For tapgate also what the
// master's log says: reloads completed ("reloaded"), refused or failed, workers
// that died, and how long each reload took from its SIGHUP (the times
// bench/tapgate-reload.sh wrote) to the master's "reloaded" line.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({
  options: {
    'raw-json': { type: 'string' },
    'raw-md': { type: 'string' },
    commit: { type: 'string', default: 'unknown' },
    workers: { type: 'string' },
    'run-dir': { type: 'string' },
    'hups-log': { type: 'string' },
    'progress-log': { type: 'string' },
    'out-md': { type: 'string' },
    'out-json': { type: 'string' },
  },
});
for (const k of ['raw-json', 'run-dir', 'out-md', 'out-json'] as const) if (!a[k]) throw new Error(`--${k} is required`);

interface Variant {
  reloads: number;
  reloads_confirmed: number;
  requests: number;
  failed: number;
  failure_rate: number;
  errors: { connect: number; read: number; write: number; timeout: number; non_2xx_3xx: number };
  p50_us: number;
  p99_us: number;
}
interface Raw {
  generated: string;
  haproxy: string;
  duration_s: number;
  interval_s: number;
  connections: number;
  variants: Record<string, Variant>;
}

const raw = JSON.parse(readFileSync(a['raw-json']!, 'utf8')) as Raw;
const runDir = a['run-dir']!;

/** The lines of wrk's own report that matter here: rate and errors. */
function wrkLines(name: string): { rps: number | null; lines: string[] } {
  const file = `${runDir}/wrk/${name}.txt`;
  if (!existsSync(file)) return { rps: null, lines: [] };
  const text = readFileSync(file, 'utf8');
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(text);
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => /^(Socket errors|Non-2xx|\d+ requests in)/.test(l));
  return { rps: rps ? Number(rps[1]) : null, lines };
}

interface LogLine {
  level: number;
  time: number;
  pid?: number;
  msg?: string;
  generation?: number;
  [k: string]: unknown;
}

function tapgateDetails() {
  const logFile = `${runDir}/logs/tapgate.log`;
  if (!existsSync(logFile)) return undefined;
  const lines: LogLine[] = [];
  const other: string[] = [];
  for (const l of readFileSync(logFile, 'utf8').split('\n')) {
    if (!l.trim()) continue;
    try {
      lines.push(JSON.parse(l) as LogLine);
    } catch {
      other.push(l);
    }
  }
  const master = lines.find((l) => l.msg === 'tapgate serving')?.pid;
  const fromMaster = lines.filter((l) => l.pid === master);
  const reloaded = fromMaster.filter((l) => l.msg === 'reloaded');
  const ended = fromMaster.filter((l) => typeof l.msg === 'string' && /^reload (refused|failed)/.test(l.msg));
  // The shared script ends a run with SIGTERM to the master and all its
  // descendants: a reload under way then fails because its new workers got the
  // SIGTERM. That is the end of the run, not a failed reload.
  const stoppedAt = fromMaster.find((l) => l.msg === 'stopped')?.time ?? Infinity;
  // A reload under way when the run's SIGTERM came: its new workers exited while starting, or (in place) the master said it is stopping.
  const interrupted = ended.filter(
    (l) => /exited while starting \(SIGTERM\)|the gateway is stopping/.test(JSON.stringify(l.problems ?? '')) && stoppedAt - l.time < 2000,
  );
  const refused = ended.filter((l) => !interrupted.includes(l));
  const died = lines.filter((l) => typeof l.msg === 'string' && /died unexpectedly/.test(l.msg));
  const errors = lines.filter((l) => l.level >= 50); // counted below without the interrupted reload
  const hups =
    a['hups-log'] && existsSync(a['hups-log'])
      ? readFileSync(a['hups-log'], 'utf8')
          .split('\n')
          .filter(Boolean)
          .map((l) => l.split(' ').map(Number))
          .filter(([pid]) => pid === master)
          .map(([, t]) => t)
      : [];
  // tapgate-reload.sh sends a SIGHUP only once the previous reload has ended, so
  // the n-th end (reloaded, refused or failed) belongs to the n-th SIGHUP.
  const ends = [...reloaded, ...ended].map((l) => l.time).sort((x, y) => x - y);
  const durations = hups
    .slice(0, ends.length)
    .map((t, i) => ends[i] - t)
    .slice(0, reloaded.length + refused.length);
  const sorted = [...durations].sort((x, y) => x - y);
  const pct = (p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] : null);
  const skipped = other.filter((l) => l.includes('[tapgate-reload] skipped')).length;
  return {
    master_pid: master ?? null,
    sighups_sent: hups.length,
    ticks_skipped_reload_in_progress: skipped,
    reloads_completed: reloaded.length,
    reloads_refused_or_failed: refused.length,
    last_generation: reloaded.at(-1)?.generation ?? 1,
    workers_died_unexpectedly: died.length,
    reload_interrupted_by_final_stop: interrupted.length,
    error_log_lines: errors.length - interrupted.length,
    reload_ms: { median: pct(0.5), max: sorted.at(-1) ?? null, all: durations },
    other_log_lines: other.filter((l) => !l.includes('[tapgate-reload] skipped')).slice(0, 20),
  };
}

const tapgate = raw.variants.tapgate ? tapgateDetails() : undefined;

/** The shared script's warnings (e.g. a core busy with load from outside), each with the variant it preceded. */
function warnings(): string[] {
  if (!a['progress-log'] || !existsSync(a['progress-log'])) return [];
  const out: string[] = [];
  let pending: string[] = [];
  for (const l of readFileSync(a['progress-log'], 'utf8').split('\n')) {
    const w = /^\[reload-loss\] warning: (.*)/.exec(l);
    if (w) pending.push(w[1]);
    const done = /^([A-Za-z0-9_.-]+): \d+ reloads/.exec(l);
    if (done) {
      for (const p of pending) out.push(`before ${done[1]}: ${p}`);
      pending = [];
    }
  }
  return out;
}
const runWarnings = warnings();
const about: Record<string, string> = {
  none: 'HAProxy, never reloaded (floor)',
  sf: 'HAProxy, new process with -sf',
  'sf-x': 'HAProxy, -sf and -x: listeners handed over',
  mw: 'HAProxy -W, SIGUSR2 to the master',
  'mw-expose': 'HAProxy -W, SIGUSR2, expose-fd listeners',
  'tapgate-still': `tapgate master, workers: ${a.workers}, never reloaded`,
  tapgate: `tapgate master, workers: ${a.workers}, SIGHUP to the master`,
};

const variants: Record<string, Variant & { total: number; rps: number | null; wrk: string[]; what: string }> = {};
for (const [name, v] of Object.entries(raw.variants)) {
  const total = v.requests + v.errors.connect + v.errors.read + v.errors.write;
  const w = wrkLines(name);
  // For tapgate, "confirmed" is what the master logged, not the reload command's exit status.
  const confirmed = name === 'tapgate' && tapgate ? tapgate.reloads_completed : v.reloads_confirmed;
  variants[name] = { ...v, reloads_confirmed: confirmed, total, rps: w.rps, wrk: w.lines, what: about[name] ?? '--extra target' };
}

const out = {
  generated: raw.generated,
  commit: a.commit,
  haproxy: raw.haproxy,
  settings: { duration_s: raw.duration_s, interval_s: raw.interval_s, connections: raw.connections, tapgate_workers: Number(a.workers) },
  definitions: {
    failed: 'wrk socket errors (connect, read, write), timeouts and non-2xx/3xx responses',
    total: 'responses + connect, read and write errors',
    reloads: 'reload ticks (one every interval_s)',
    reloads_confirmed: 'HAProxy -W: "Loading success" in its log; -sf: the new process kept running; tapgate: "reloaded" lines in the master\'s log',
  },
  variants,
  tapgate: tapgate ?? null,
  warnings: runWarnings,
};
writeFileSync(a['out-json']!, JSON.stringify(out, null, 2) + '\n');

const pctStr = (x: number) => `${(100 * x).toFixed(4)}%`;
const md: string[] = [];
md.push(`# Reload loss: tapgate vs HAProxy`, '');
md.push(`Generated ${raw.generated} at commit ${a.commit} by \`bash bench/reload-loss.sh\` (measured by the shared reload-loss.sh).`, '');
md.push(
  `HAProxy ${raw.haproxy}, nbthread 1; tapgate with \`workers: ${a.workers}\`; each proxy pinned to one core, wrk and the origins on the other(s). ` +
    `wrk -t1 -c${raw.connections} -d${raw.duration_s}s, every request on a new connection ("Connection: close"); a reload tick every ${raw.interval_s} s. ` +
    `Failed: socket errors, timeouts and non-2xx/3xx responses; total: responses + connect, read and write errors.`,
  '',
);
md.push(
  '| variant | what | reload ticks | reloads confirmed | failed / total | failure rate | connect | read | write | timeout | non-2xx/3xx | req/s | p99 ms |',
);
md.push('| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const [name, v] of Object.entries(variants)) {
  const e = v.errors;
  md.push(
    `| ${name} | ${v.what} | ${v.reloads} | ${v.reloads_confirmed} | ${v.failed} / ${v.total} | ${pctStr(v.failure_rate)} | ${e.connect} | ${e.read} | ${e.write} | ${e.timeout} | ${e.non_2xx_3xx} | ${v.rps?.toFixed(0) ?? '-'} | ${(v.p99_us / 1000).toFixed(1)} |`,
  );
}
md.push('');
md.push('Reloads confirmed: HAProxy -W, "Loading success" in its log; -sf, the new process kept running; tapgate, "reloaded" lines in the master\'s log.');
if (tapgate) {
  md.push('', '## tapgate reloads', '');
  md.push(
    `Each tick, bench/tapgate-reload.sh alternates origin2's weight (1 <-> 2) and sends SIGHUP to the master (pid ${tapgate.master_pid}), ` +
      `unless the previous reload has not ended yet; then it skips the tick.`,
    '',
  );
  md.push(`- SIGHUPs sent: ${tapgate.sighups_sent}; ticks skipped (previous reload still running): ${tapgate.ticks_skipped_reload_in_progress}`);
  md.push(
    `- reloads completed ("reloaded"): ${tapgate.reloads_completed} (last generation ${tapgate.last_generation}); refused or failed: ${tapgate.reloads_refused_or_failed}` +
      (tapgate.reload_interrupted_by_final_stop ? `; cut short by the SIGTERM that ends the run: ${tapgate.reload_interrupted_by_final_stop}` : ''),
  );
  md.push(`- SIGHUP to "reloaded": median ${tapgate.reload_ms.median ?? '-'} ms, max ${tapgate.reload_ms.max ?? '-'} ms`);
  md.push(`- workers that died unexpectedly: ${tapgate.workers_died_unexpectedly}; error lines in the log: ${tapgate.error_log_lines}`);
  const still = variants['tapgate-still']?.rps,
    reloaded = variants.tapgate?.rps;
  if (still && reloaded)
    md.push(
      `- throughput while reloaded every ${raw.interval_s} s: ${reloaded.toFixed(0)} req/s against ${still.toFixed(0)} never reloaded = **${((100 * reloaded) / still).toFixed(0)}%**`,
    );
}
if (runWarnings.length) {
  md.push('', '## Warnings from the run', '');
  md.push(
    'The shared script waits (at most 60 s) for every core to be under 10% busy before each variant; when it gives up it says so. ' +
      'Such variants ran next to other load on the same machine: their req/s and latency are low, and fewer requests met the reloads.',
    '',
  );
  for (const w of runWarnings) md.push(`- ${w}`);
}
md.push('', '## wrk error lines', '');
for (const [name, v] of Object.entries(variants)) md.push(`- ${name}: ${v.wrk.length ? v.wrk.map((l) => `\`${l}\``).join('; ') : '(none)'}`);
md.push('');
writeFileSync(a['out-md']!, md.join('\n'));
