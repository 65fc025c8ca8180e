// `/stats.csv`: one row per frontend, backend and server, in HAProxy's spirit (`pxname`
// and `svname` as its CSV has them: FRONTEND and BACKEND for the totals rows). RFC 4180:
// a header line, fields quoted when they hold a comma, a quote or a line break. Columns
// are only ever added at the end; the README lists them.
import type { BackendStats, FrontendStats, Latency, ServerStats, StatsReport } from './report.ts';

export const csvColumns = [
  'pxname',
  'svname',
  'type',
  'mode',
  'status',
  'weight',
  'sessions_current',
  'sessions_max',
  'sessions_total',
  'connections_total',
  'bytes_in',
  'bytes_out',
  'denied',
  'errors',
  'connection_errors',
  'response_errors',
  'retries',
  'queue_current',
  'queue_max',
  'responses_1xx',
  'responses_2xx',
  'responses_3xx',
  'responses_4xx',
  'responses_5xx',
  'responses_other',
  'check_result',
  'check_duration_ms',
  'check_error',
  'last_change_s',
  'downtime_s',
  'ttfb_p50_ms',
  'ttfb_p99_ms',
  'total_p50_ms',
  'total_p99_ms',
] as const;
type Column = (typeof csvColumns)[number];
type Row = Partial<Record<Column, string | number | null>>;

export function renderCsv(report: StatsReport): string {
  const rows: Row[] = [];
  for (const fe of report.frontends) rows.push(frontendRow(fe));
  for (const be of report.backends) {
    for (const s of be.servers) rows.push(serverRow(be, s));
    rows.push(backendRow(be));
  }
  return [csvColumns.join(','), ...rows.map((r) => csvColumns.map((c) => field(r[c])).join(','))].join('\r\n') + '\r\n';
}

const responses = (r: FrontendStats['responses']): Row => ({
  responses_1xx: r['1xx'],
  responses_2xx: r['2xx'],
  responses_3xx: r['3xx'],
  responses_4xx: r['4xx'],
  responses_5xx: r['5xx'],
  responses_other: r.other,
});
const times = (ttfb: Latency | undefined, total: Latency | undefined): Row => ({
  ttfb_p50_ms: ttfb?.p50_ms,
  ttfb_p99_ms: ttfb?.p99_ms,
  total_p50_ms: total?.p50_ms,
  total_p99_ms: total?.p99_ms,
});

function frontendRow(fe: FrontendStats): Row {
  return {
    pxname: fe.name,
    svname: 'FRONTEND',
    type: 'frontend',
    mode: fe.mode,
    status: 'OPEN',
    sessions_current: fe.sessions.current,
    sessions_max: fe.sessions.max,
    sessions_total: fe.sessions.total,
    connections_total: fe.connections,
    bytes_in: fe.bytes.in,
    bytes_out: fe.bytes.out,
    denied: fe.denied,
    errors: fe.errors,
    ...responses(fe.responses),
    ...times(undefined, fe.latency.total),
  };
}

function backendRow(be: BackendStats): Row {
  return {
    pxname: be.name,
    svname: 'BACKEND',
    type: 'backend',
    mode: be.mode,
    status: be.status,
    weight: be.weight,
    sessions_current: be.sessions.current,
    sessions_max: be.sessions.max,
    sessions_total: be.sessions.total,
    bytes_in: be.bytes.in,
    bytes_out: be.bytes.out,
    connection_errors: be.errors.connection,
    response_errors: be.errors.response,
    retries: be.retries,
    queue_current: be.queue.current,
    queue_max: be.queue.max,
    ...responses(be.responses),
    ...times(be.latency.ttfb, be.latency.total),
  };
}

function serverRow(be: BackendStats, s: ServerStats): Row {
  return {
    pxname: be.name,
    svname: s.name,
    type: 'server',
    mode: be.mode,
    status: s.status,
    weight: s.weight,
    sessions_current: s.sessions.current,
    sessions_max: s.sessions.max,
    sessions_total: s.sessions.total,
    bytes_in: s.bytes.in,
    bytes_out: s.bytes.out,
    connection_errors: s.errors.connection,
    response_errors: s.errors.response,
    ...responses(s.responses),
    check_result: s.check?.result,
    check_duration_ms: s.check?.duration_ms,
    check_error: s.check?.error,
    last_change_s: s.since_s,
    downtime_s: s.downtime_s,
    ...times(s.latency.ttfb, undefined),
  };
}

function field(v: string | number | null | undefined): string {
  if (v === undefined || v === null) return '';
  const s = String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}
