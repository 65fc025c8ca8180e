// `/stats.json`: one document built from every worker's merged metrics, the gateway's
// status and this worker's live views (server state, health). Its shape is the
// `StatsReport` below, pinned by a golden file (test/plugins/stats/golden/); fields are
// only ever added. Durations are ms (`_ms`), plugin costs µs (`_us`), ages seconds (`_s`).
import type { BackendView, FrontendView, GatewayStatus, MetricSample, RouteView, ServerView, WorkerDeaths, WorkerInfo } from '../../sdk/index.ts';
import { M, pluginTapErrors, pluginTapSlow, pluginTapSeconds, responseClasses, type MetricDef, type ResponseClass, type ServerStatus } from './metrics.ts';
import { downtimeMs, serverStatus } from './status.ts';

export const schemaVersion = 'tapgate.stats/1';

export type Responses = Record<ResponseClass, number>;

export interface Sessions {
  /** In progress now (every worker). */
  current: number;
  /** The most at once in one worker (this generation). */
  max: number;
  /** Ended since the gateway started (reloads included). */
  total: number;
}

/** Estimated from a histogram's buckets (as Prometheus' histogram_quantile does); null without observations. */
export interface Latency {
  count: number;
  mean_ms: number | null;
  p50_ms: number | null;
  p90_ms: number | null;
  p99_ms: number | null;
}

export interface RouteStats {
  name: string;
  backend: string | null;
  /** tcp: the frontend the route hands connections to. */
  handoff: string | null;
  sessions: number;
  responses: Responses;
  response_pct: Responses;
}

export interface FrontendStats {
  name: string;
  mode: 'http' | 'tcp';
  binds: string[];
  default_backend: string | null;
  connections: number;
  sessions: Sessions;
  bytes: { in: number; out: number };
  denied: number;
  errors: number;
  /** HTTP requests by the version the client spoke (`1.1`, `2.0`...); empty in tcp mode. */
  http_versions: Record<string, number>;
  responses: Responses;
  response_pct: Responses;
  latency: { total: Latency };
  /** The frontend's routes in order, then `default` (what no route took); empty without routes. */
  routes: RouteStats[];
}

export interface HealthCheck {
  result: 'passed' | 'failed' | 'pending';
  duration_ms: number | null;
  error: string | null;
  at: string | null;
  checks: number;
  failed: number;
}

export interface ServerStats {
  name: string;
  address: string;
  status: ServerStatus;
  state: 'ready' | 'drain' | 'maint';
  up: boolean;
  weight: number;
  backup: boolean;
  maxconn: number;
  /** Seconds since `up` or `state` last changed (or this generation started). */
  since_s: number;
  /** Seconds down by health checks or ejection, this generation. */
  downtime_s: number;
  /** Active health checks; null when they do not run on this server. */
  check: HealthCheck | null;
  /** Outlier detection (passive checks). */
  passive: { consecutive_errors: number; ejections: number; ejected_until: string | null };
  sessions: Sessions;
  bytes: { in: number; out: number };
  errors: { connection: number; response: number };
  responses: Responses;
  response_pct: Responses;
  latency: { ttfb: Latency; connect: Latency };
}

export interface BackendStats {
  name: string;
  mode: 'http' | 'tcp';
  balance: string;
  /** UP while a server is UP. */
  status: 'UP' | 'DOWN';
  servers_up: number;
  servers_total: number;
  /** Sum of the weights of UP servers. */
  weight: number;
  sessions: Sessions;
  queue: { current: number; max: number };
  bytes: { in: number; out: number };
  retries: number;
  errors: { connection: number; response: number };
  responses: Responses;
  response_pct: Responses;
  latency: { queue: Latency; connect: Latency; ttfb: Latency; total: Latency };
  servers: ServerStats[];
}

export interface TapCost {
  calls: number;
  /** Calls that threw, rejected or timed out (plugin_budget.timeout). */
  errors: number;
  /** Calls over plugin_budget.slow. */
  slow: number;
  seconds: number;
  mean_us: number | null;
  p50_us: number | null;
  p99_us: number | null;
}

export interface PluginCost extends TapCost {
  name: string;
  hooks: (TapCost & { hook: string })[];
}

export interface StatsReport {
  schema: typeof schemaVersion;
  generated_at: string;
  gateway: { pid: number; generation: number; config: string; uptime_s: number; workers: WorkerInfo[]; worker_deaths: WorkerDeaths };
  frontends: FrontendStats[];
  backends: BackendStats[];
  /** Every plugin's taps, by plugin then hook, with what they cost (the kernel times every call). */
  plugins: PluginCost[];
}

export interface ReportInput {
  samples: readonly MetricSample[];
  status: GatewayStatus;
  frontends: ReadonlyMap<string, FrontendView>;
  routes(frontend: string): readonly RouteView[];
  backends: ReadonlyMap<string, BackendView>;
  /** ms since the epoch. */
  now: number;
}

type HistogramCell = { counts: number[]; sum: number; count: number };

/** Metric values by name and label values, for lookups while building the report. */
class SampleIndex {
  readonly #scalars = new Map<string, Map<string, number>>();
  readonly #histograms = new Map<string, { buckets: number[]; cells: Map<string, HistogramCell> }>();

  constructor(samples: readonly MetricSample[]) {
    for (const s of samples) {
      if (s.type === 'histogram') this.#histograms.set(s.name, { buckets: s.buckets, cells: new Map(s.values.map((v) => [keyOf(v.labels), v])) });
      else this.#scalars.set(s.name, new Map(s.values.map((v) => [keyOf(v.labels), v.value])));
    }
  }

  value(def: MetricDef | string, labels: Record<string, string>): number {
    return this.#scalars.get(typeof def === 'string' ? def : def.name)?.get(keyOf(labels)) ?? 0;
  }

  responses(def: MetricDef, labels: Record<string, string>): Responses {
    const out = {} as Responses;
    for (const code of responseClasses) out[code] = this.value(def, { ...labels, code });
    return out;
  }

  /** A counter's cells matching `labels`, by the value of their label `by`, in sorted order. */
  byLabel(def: MetricDef, labels: Record<string, string>, by: string): Record<string, number> {
    const out: Record<string, number> = {};
    const cells = [...(this.#scalars.get(def.name) ?? [])].map(([key, value]) => ({ l: labelsOf(key), value }));
    for (const { l, value } of cells.sort((a, b) => String(a.l[by]).localeCompare(String(b.l[by])))) {
      if (l[by] !== undefined && Object.entries(labels).every(([k, v]) => l[k] === v)) out[l[by]!] = value;
    }
    return out;
  }

  latency(def: MetricDef, labels: Record<string, string>): Latency {
    const h = this.#histograms.get(def.name);
    return latencyOf(h?.buckets ?? [], h?.cells.get(keyOf(labels)));
  }

  /** Every cell of a histogram, with its labels. */
  histogramCells(name: string): { buckets: number[]; cells: { labels: Record<string, string>; cell: HistogramCell }[] } {
    const h = this.#histograms.get(name);
    if (!h) return { buckets: [], cells: [] };
    return { buckets: h.buckets, cells: [...h.cells.entries()].map(([key, cell]) => ({ labels: labelsOf(key), cell })) };
  }
}

/** Label sets as a key: names sorted, so the order they were written in does not matter. */
function keyOf(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(
    Object.keys(labels)
      .sort()
      .map((k) => [k, labels[k]]),
  );
}
function labelsOf(key: string): Record<string, string> {
  return Object.fromEntries(JSON.parse(key) as [string, string][]);
}

const round = (n: number, digits = 3) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** The value under which a fraction `q` of observations fall, interpolated inside its bucket. */
export function quantile(buckets: readonly number[], counts: readonly number[], q: number): number | null {
  const total = counts.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let seen = 0;
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i]!;
    if (n > 0 && seen + n >= rank) {
      if (i >= buckets.length) return buckets[buckets.length - 1] ?? null; // above the last bound: the bound is all we know
      const lo = i === 0 ? 0 : buckets[i - 1]!;
      return lo + (buckets[i]! - lo) * ((rank - seen) / n);
    }
    seen += n;
  }
  return null;
}

function latencyOf(buckets: readonly number[], h: HistogramCell | undefined): Latency {
  if (!h || h.count === 0) return { count: 0, mean_ms: null, p50_ms: null, p90_ms: null, p99_ms: null };
  const ms = (q: number) => {
    const v = quantile(buckets, h.counts, q);
    return v === null ? null : round(v * 1000);
  };
  return { count: h.count, mean_ms: round((h.sum / h.count) * 1000), p50_ms: ms(0.5), p90_ms: ms(0.9), p99_ms: ms(0.99) };
}

function percentages(r: Responses): Responses {
  const total = responseClasses.reduce((a, c) => a + r[c], 0);
  const out = {} as Responses;
  for (const c of responseClasses) out[c] = total === 0 ? 0 : round((r[c] / total) * 100, 1);
  return out;
}

const formatHostPort = (a: { host: string; port: number }) => (a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`);
const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

export function buildReport(input: ReportInput): StatsReport {
  const m = new SampleIndex(input.samples);
  const { now } = input;

  const frontends = [...input.frontends.values()].map((fe): FrontendStats => {
    const l = { frontend: fe.name };
    const responses = m.responses(M.feResponses, l);
    const routes = input.routes(fe.name);
    const routeRows = (
      routes.length
        ? [
            ...routes.map((r) => ({ name: r.name, backend: r.backend, handoff: r.handoff })),
            { name: 'default', backend: fe.defaultBackend, handoff: undefined },
          ]
        : []
    ).map((r): RouteStats => {
      const rl = { frontend: fe.name, route: r.name };
      const rr = m.responses(M.routeResponses, rl);
      return {
        name: r.name,
        backend: r.backend ?? null,
        handoff: r.handoff ?? null,
        sessions: m.value(M.routeSessions, rl),
        responses: rr,
        response_pct: percentages(rr),
      };
    });
    return {
      name: fe.name,
      mode: fe.mode,
      binds: fe.binds.map(formatHostPort),
      default_backend: fe.defaultBackend ?? null,
      connections: m.value(M.feConnections, l),
      sessions: { current: m.value(M.feCurrent, l), max: m.value(M.feMax, l), total: m.value(M.feSessions, l) },
      bytes: { in: m.value(M.feBytesIn, l), out: m.value(M.feBytesOut, l) },
      denied: m.value(M.feDenied, l),
      errors: m.value(M.feErrors, l),
      http_versions: m.byLabel(M.feVersions, l, 'version'),
      responses,
      response_pct: percentages(responses),
      latency: { total: m.latency(M.feSeconds, l) },
      routes: routeRows,
    };
  });

  const backends = [...input.backends.values()].map((b): BackendStats => {
    const l = { backend: b.name };
    const servers = b.servers.map((s) => serverStats(m, s, now));
    const up = servers.filter((s) => s.status === 'UP');
    const responses = m.responses(M.beResponses, l);
    return {
      name: b.name,
      mode: b.mode,
      balance: b.balance,
      status: up.length ? 'UP' : 'DOWN',
      servers_up: up.length,
      servers_total: servers.length,
      weight: up.reduce((a, s) => a + s.weight, 0),
      sessions: { current: m.value(M.beCurrent, l), max: m.value(M.beMax, l), total: m.value(M.beSessions, l) },
      queue: { current: m.value(M.beQueueCurrent, l), max: m.value(M.beQueueMax, l) },
      bytes: { in: m.value(M.beBytesIn, l), out: m.value(M.beBytesOut, l) },
      retries: m.value(M.beRetries, l),
      errors: { connection: m.value(M.beConnectionErrors, l), response: m.value(M.beResponseErrors, l) },
      responses,
      response_pct: percentages(responses),
      latency: {
        queue: m.latency(M.beQueueSeconds, l),
        connect: m.latency(M.beConnectSeconds, l),
        ttfb: m.latency(M.beTtfbSeconds, l),
        total: m.latency(M.beSeconds, l),
      },
      servers,
    };
  });

  const { pid, generation, config, uptime_s, workers, worker_deaths } = input.status;
  return {
    schema: schemaVersion,
    generated_at: new Date(now).toISOString(),
    gateway: { pid, generation, config, uptime_s, workers, worker_deaths },
    frontends,
    backends,
    plugins: pluginCosts(m),
  };
}

function serverStats(m: SampleIndex, s: ServerView, now: number): ServerStats {
  const l = { backend: s.backend, server: s.name };
  const h = s.health;
  const responses = m.responses(M.svResponses, l);
  return {
    name: s.name,
    address: formatHostPort(s.address),
    status: serverStatus(s),
    state: s.state,
    up: s.up,
    weight: s.weight,
    backup: s.backup,
    maxconn: s.maxconn,
    since_s: Math.max(0, Math.round((now - s.changedAt) / 1000)),
    downtime_s: Math.round(downtimeMs(s, now) / 1000),
    check: h.checked
      ? {
          result: h.lastResult ?? 'pending',
          duration_ms: h.lastDuration ?? null,
          error: h.lastError ?? null,
          at: iso(h.lastCheckAt),
          checks: h.checks,
          failed: h.failedChecks,
        }
      : null,
    passive: { consecutive_errors: h.consecutiveErrors, ejections: h.ejections, ejected_until: iso(h.ejectedUntil) },
    sessions: { current: m.value(M.svCurrent, l), max: m.value(M.svMax, l), total: m.value(M.svSessions, l) },
    bytes: { in: m.value(M.svBytesIn, l), out: m.value(M.svBytesOut, l) },
    errors: { connection: m.value(M.svConnectionErrors, l), response: m.value(M.svResponseErrors, l) },
    responses,
    response_pct: percentages(responses),
    latency: { ttfb: m.latency(M.svTtfbSeconds, l), connect: m.latency(M.svConnectSeconds, l) },
  };
}

/** Calls, errors, slow calls and time of every plugin's taps, from the kernel's `plugin_tap_seconds`, `plugin_tap_errors_total` and `plugin_tap_slow_total`. */
function pluginCosts(m: SampleIndex): PluginCost[] {
  const { buckets, cells } = m.histogramCells(pluginTapSeconds);
  const byPlugin = new Map<string, { hook: string; cell: HistogramCell }[]>();
  for (const { labels, cell } of cells) {
    const plugin = labels.plugin ?? '';
    if (!byPlugin.has(plugin)) byPlugin.set(plugin, []);
    byPlugin.get(plugin)!.push({ hook: labels.hook ?? '', cell });
  }
  const cost = (cell: HistogramCell, errors: number, slow: number): TapCost => {
    const us = (q: number) => {
      const v = quantile(buckets, cell.counts, q);
      return v === null ? null : round(v * 1e6, 1);
    };
    return {
      calls: cell.count,
      errors,
      slow,
      seconds: round(cell.sum, 6),
      mean_us: cell.count ? round((cell.sum / cell.count) * 1e6, 1) : null,
      p50_us: us(0.5),
      p99_us: us(0.99),
    };
  };
  return [...byPlugin.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, hooks]) => {
      hooks.sort((a, b) => a.hook.localeCompare(b.hook));
      const total: HistogramCell = { counts: new Array(buckets.length + 1).fill(0), sum: 0, count: 0 };
      let errors = 0;
      let slow = 0;
      const rows = hooks.map(({ hook, cell }) => {
        cell.counts.forEach((c, i) => (total.counts[i] = (total.counts[i] ?? 0) + c));
        total.sum += cell.sum;
        total.count += cell.count;
        const e = m.value(pluginTapErrors, { plugin: name, hook });
        const s = m.value(pluginTapSlow, { plugin: name, hook });
        errors += e;
        slow += s;
        return { hook, ...cost(cell, e, s) };
      });
      return { name, ...cost(total, errors, slow), hooks: rows };
    });
}
