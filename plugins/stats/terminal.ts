// The report as a compact terminal table (`tapgate stats` fetches it as /stats.txt):
// frontends, then each backend with its servers.
import type { BackendStats, FrontendStats, Responses, ServerStats, StatsReport } from './report.ts';

const statusColor: Record<string, string> = { UP: '32', DOWN: '31', DRAIN: '34', MAINT: '33', NOLB: '35' };

/** Frontends, then each backend with its servers: status, sessions, totals, 5xx share and p99 time to first byte. */
export function renderTerminal(r: StatsReport, color = false): string {
  const paint = (status: string, text: string) => (color && statusColor[status] ? `\x1b[${statusColor[status]}m${text}\x1b[0m` : text);
  const pct5xx = (x: Responses) => {
    const total = Object.values(x).reduce((a, b) => a + b, 0);
    return total ? `${((x['5xx'] / total) * 100).toFixed(1)}%` : '-';
  };
  const ms = (v: number | null) => (v === null ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));
  const age = (s: number) => (s < 60 ? `${s}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`);
  const gw = r.gateway;
  const deaths = gw.worker_deaths.total
    ? ` · ${gw.worker_deaths.total} worker death${gw.worker_deaths.total === 1 ? '' : 's'} (last ${gw.worker_deaths.last!.reason})`
    : '';
  const out = [
    `tapgate  generation ${gw.generation} · ${gw.workers.length} worker${gw.workers.length === 1 ? '' : 's'}${deaths} · up ${age(gw.uptime_s)} · ${r.generated_at.replace('T', ' ').slice(0, 19)} UTC`,
    '',
  ];

  const fe = table(
    ['FRONTEND', 'MODE', 'CUR', 'MAX', 'TOTAL', '2xx', '4xx', '5xx%', 'DENIED', 'ERR', 'p99 ms'],
    r.frontends.map((f: FrontendStats) => [
      f.name,
      f.mode,
      f.sessions.current,
      f.sessions.max,
      f.sessions.total,
      f.mode === 'http' ? f.responses['2xx'] : '-',
      f.mode === 'http' ? f.responses['4xx'] : '-',
      f.mode === 'http' ? pct5xx(f.responses) : '-',
      f.denied,
      f.errors,
      ms(f.latency.total.p99_ms),
    ]),
  );
  out.push(...fe, '');

  const rows: { cells: (string | number)[]; status: string }[] = [];
  for (const b of r.backends as BackendStats[]) {
    const http = b.mode === 'http';
    rows.push({
      status: b.status,
      cells: [
        b.name,
        b.status,
        b.weight,
        b.sessions.current,
        b.sessions.max,
        b.sessions.total,
        http ? pct5xx(b.responses) : '-',
        `${b.errors.connection}/${b.errors.response}`,
        b.retries,
        ms((http ? b.latency.ttfb : b.latency.connect).p99_ms),
        `${b.servers_up}/${b.servers_total} up`,
      ],
    });
    for (const s of b.servers as ServerStats[]) {
      const check = s.check
        ? s.check.result === 'failed'
          ? (s.check.error ?? 'failed')
          : s.check.result === 'passed'
            ? `ok ${s.check.duration_ms ?? '-'}ms`
            : 'pending'
        : '';
      rows.push({
        status: s.status,
        cells: [
          `  ${s.name}`,
          `${s.status} ${age(s.since_s)}`,
          s.weight,
          s.sessions.current,
          s.sessions.max,
          s.sessions.total,
          http ? pct5xx(s.responses) : '-',
          `${s.errors.connection}/${s.errors.response}`,
          '',
          ms((http ? s.latency.ttfb : s.latency.connect).p99_ms),
          check,
        ],
      });
    }
  }
  const be = table(
    ['BACKEND / SERVER', 'STATUS', 'WGHT', 'CUR', 'MAX', 'TOTAL', '5xx%', 'ERR c/r', 'RETR', 'p99 ttfb', 'CHECK'],
    rows.map((x) => x.cells),
  );
  out.push(be[0]!, ...be.slice(1).map((line, i) => paintStatus(line, rows[i]!.status, paint)));
  return out.join('\n') + '\n';
}

/** Colours the status word of a row (the second column), leaving alignment alone. */
function paintStatus(line: string, status: string, paint: (status: string, text: string) => string): string {
  const at = line.indexOf(status, line.search(/\S\s+\S/) + 1);
  return at < 0 ? line : line.slice(0, at) + paint(status, status) + line.slice(at + status.length);
}

/** Columns padded to their widest cell: text left, numbers right. */
function table(head: string[], rows: (string | number)[][]): string[] {
  const text = rows.map((r) => r.map(String));
  const widths = head.map((h, i) => Math.max(h.length, ...text.map((r) => r[i]!.length)));
  const numeric = head.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number' || /^[\d.%/-]*$/.test(String(r[i]))));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...text.map(line)];
}
