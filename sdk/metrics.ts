// Metrics as data, the format plugins and the kernel share: the types of `api.metrics`,
// a snapshot's plain shape, the rules Prometheus sets for names, labels and values, and
// the functions that merge snapshots (several workers, totals kept across reloads) and
// write Prometheus text, skipping (and reporting) a family it cannot write rather than
// failing. The registry that hands metrics to plugins is the kernel's (core/metrics.ts).

export type Labels = Readonly<Record<string, string>>;

export interface BoundCounter {
  inc(by?: number): void;
}
export interface Counter {
  inc(labels?: Labels, by?: number): void;
  /** The counter for fixed labels, looked up once: for the request path. */
  bind(labels: Labels): BoundCounter;
}
export interface BoundGauge {
  set(value: number): void;
  add(by: number): void;
}
export interface Gauge {
  set(value: number, labels?: Labels): void;
  add(by: number, labels?: Labels): void;
  bind(labels: Labels): BoundGauge;
}
export interface BoundHistogram {
  observe(value: number): void;
}
export interface Histogram {
  observe(value: number, labels?: Labels): void;
  bind(labels: Labels): BoundHistogram;
}

/** How a gauge combines across workers: `sum` (current sessions) or `max` (a peak). */
export type GaugeMerge = 'sum' | 'max';

export interface Metrics {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string, merge?: GaugeMerge): Gauge;
  /** `buckets`: upper bounds in increasing order (seconds for durations); default `latencyBuckets`. */
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram;
}

/** Upper bounds in seconds, 0.5 ms to 30 s: request latency on a gateway. */
export const latencyBuckets: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export interface ScalarValue {
  labels: Labels;
  value: number;
}
export interface HistogramValue {
  labels: Labels;
  /** Observations at or below each bound (not cumulative: one count per bucket), then above the last. */
  counts: number[];
  sum: number;
  count: number;
}
export type MetricSample =
  | { name: string; help: string; type: 'counter'; values: ScalarValue[] }
  | { name: string; help: string; type: 'gauge'; merge: GaugeMerge; values: ScalarValue[] }
  | { name: string; help: string; type: 'histogram'; buckets: number[]; values: HistogramValue[] };

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Why `name` is no Prometheus metric name (letters, digits, `_` and `:`, no digit first), or undefined. */
export function metricNameProblem(name: string): string | undefined {
  if (metricNamePattern.test(name)) return undefined;
  const fixed = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^(?=[0-9])/, '_');
  return `metric names are letters, digits, _ and :, not starting with a digit${name && metricNamePattern.test(fixed) ? ` (try ${JSON.stringify(fixed)})` : ''}`;
}

/** Why `name` is no Prometheus label name (letters, digits and `_`, no digit first, no `__` first), or undefined. */
export function labelNameProblem(name: string): string | undefined {
  if (labelNamePattern.test(name) && !name.startsWith('__')) return undefined;
  const fixed = name
    .replace(/[^a-zA-Z0-9_]/g, '_')
    .replace(/^_+/, '')
    .replace(/^(?=[0-9])/, 'l');
  return `label name ${JSON.stringify(name)} is not valid: label names are letters, digits and _, not starting with a digit, and a leading __ is Prometheus' own${fixed && fixed !== name ? ` (try ${JSON.stringify(fixed)})` : ''}`;
}

/**
 * `labels` copied (each value read once), or why they cannot label a series: names as
 * Prometheus has them, string values, and on a histogram no `le` (its buckets').
 */
export function readLabels(labels: unknown, histogram: boolean): { labels: Labels } | { problem: string } {
  if (labels === undefined) return { labels: {} };
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels))
    return { problem: `labels must be an object of strings, got ${describe(labels)}` };
  const copy: Record<string, string> = {};
  for (const [name, value] of Object.entries(labels)) {
    const problem = labelNameProblem(name);
    if (problem) return { problem };
    if (histogram && name === 'le') return { problem: 'label name "le" is reserved for the buckets' };
    if (typeof value !== 'string') return { problem: `label ${JSON.stringify(name)} must be a string, got ${describe(value)}` };
    copy[name] = value;
  }
  return { labels: copy };
}

export function bucketsProblem(buckets: unknown): string | undefined {
  const ok = Array.isArray(buckets) && buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]));
  return ok
    ? undefined
    : `buckets must be finite numbers in increasing order, got ${Array.isArray(buckets) ? `[${buckets.map(describe).join(', ')}]` : describe(buckets)}`;
}

/** A JavaScript value, as a message shows what was found. */
export function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'function' ? 'a function' : 'an object';
}

/** One key for the same labels in any order (and none for no labels), so they share one cell. */
export const labelsKey = (labels: Labels) => {
  const names = Object.keys(labels);
  return names.length ? JSON.stringify(names.sort().map((n) => [n, labels[n]])) : '';
};

/** The labels as the caller wrote them, for a lookup that costs one stringify; undefined when they cannot be written. */
export function spelling(labels: unknown): string | undefined {
  if (labels === undefined) return '';
  try {
    return JSON.stringify(labels);
  } catch {
    return undefined;
  }
}

export type Cell = ScalarValue | HistogramValue;
export type MetricType = MetricSample['type'];

/** The series names a family writes: a histogram's are its name with `_bucket`, `_sum` and `_count`. */
export const seriesNames = (name: string, type: unknown) => (type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]);

/** Whether two samples of one name can be added: same type, and for histograms the same buckets. */
function sameShape(a: MetricSample, b: MetricSample): boolean {
  if (a.type !== b.type) return false;
  if (a.type !== 'histogram') return true;
  const other = (b as Extract<MetricSample, { type: 'histogram' }>).buckets;
  return a.buckets.length === other.length && a.buckets.every((x, i) => x === other[i]);
}

/**
 * Merges snapshots, oldest first (of several workers, or a retired total and the live
 * ones): counters and histograms add up, gauges add or take the max as declared. A
 * family whose type or buckets changed is the newer one alone: the older values do not
 * add to it.
 */
export function mergeSnapshots(snapshots: readonly (readonly MetricSample[])[]): MetricSample[] {
  const out = new Map<string, { into: MetricSample; cells: Map<string, Cell> }>();
  for (const snapshot of snapshots) {
    for (const sample of snapshot) {
      let merged = out.get(sample.name);
      if (!merged || !sameShape(merged.into, sample)) {
        merged = { into: structuredClone({ ...sample, values: [] }), cells: new Map() };
        out.set(sample.name, merged);
      }
      const { into, cells } = merged;
      for (const v of sample.values) {
        const key = labelsKey(v.labels);
        const cell = cells.get(key);
        if (!cell) {
          const copy = structuredClone(v);
          (into.values as Cell[]).push(copy);
          cells.set(key, copy);
        } else if ('counts' in cell) {
          const h = v as HistogramValue;
          h.counts.forEach((c, i) => (cell.counts[i] = (cell.counts[i] ?? 0) + c));
          cell.sum += h.sum;
          cell.count += h.count;
        } else {
          const value = (v as ScalarValue).value;
          cell.value = into.type === 'gauge' && into.merge === 'max' ? Math.max(cell.value, value) : cell.value + value;
        }
      }
    }
  }
  return [...out.values()].map((m) => m.into);
}

/**
 * What to show: the families the live snapshots hold (oldest first), with `totals` (of
 * workers or generations gone) added to those of the same type and buckets. A family
 * no live snapshot holds is not shown, so a reload that stops registering one makes it
 * go away; its totals are kept, should a later reload register it again.
 */
export function withTotals(totals: readonly MetricSample[], live: readonly (readonly MetricSample[])[]): MetricSample[] {
  const registered = new Set(live.flatMap((snapshot) => snapshot.map((s) => s.name)));
  return mergeSnapshots([totals.filter((s) => registered.has(s.name)), ...live]);
}

/** What survives a worker's exit into the totals: counters and histograms, not gauges (a gone worker holds no sessions). */
export function retained(snapshot: readonly MetricSample[]): MetricSample[] {
  return snapshot.filter((s) => s.type !== 'gauge');
}

/**
 * Prometheus text exposition format 0.0.4; names get `prefix` unless they have it. A
 * family that cannot be written (it came from elsewhere than a registry: a bad name,
 * label or value, or a series name another family writes) is left out, with a comment
 * line saying why and a call to `skipped`: one bad family never spoils a scrape.
 */
export function renderPrometheus(samples: readonly MetricSample[], prefix = 'tapgate_', skipped?: (family: string, reason: string) => void): string {
  const out: string[] = [];
  const written = new Map<string, string>();
  const named = samples.map((s) => ({ s, name: typeof s?.name === 'string' ? s.name : '' }));
  for (const { s, name } of named.sort((a, b) => a.name.localeCompare(b.name))) {
    const full = name.startsWith(prefix) ? name : prefix + name;
    try {
      const lines = familyLines(s, full);
      const series = seriesNames(full, s.type);
      const taken = series.find((n) => written.has(n));
      if (taken) throw new Error(`${taken} is already written by family ${written.get(taken)}`);
      for (const n of series) written.set(n, full);
      out.push(...lines);
    } catch (err) {
      const family = typeof s?.name === 'string' ? s.name : `<${describe(s?.name)}>`;
      const reason = (err as Error).message;
      skipped?.(family, reason);
      out.push(`# skipped ${JSON.stringify(family)}: ${reason.replace(/\r\n|\r|\n/g, ' ')}`);
    }
  }
  return out.join('\n') + '\n';
}

/** A family's lines, or a throw saying why it cannot be written. */
function familyLines(s: MetricSample, name: string): string[] {
  if (typeof s !== 'object' || s === null) throw new Error(`not a metric family: ${describe(s)}`);
  if (typeof s.name !== 'string') throw new Error(`its name is ${describe(s.name)}, not a string`);
  for (const n of [s.name, name]) {
    const problem = metricNameProblem(n);
    if (problem) throw new Error(`${JSON.stringify(n)}: ${problem}`);
  }
  if (typeof s.help !== 'string') throw new Error(`help is ${describe(s.help)}, not a string`);
  if (s.type !== 'counter' && s.type !== 'gauge' && s.type !== 'histogram')
    throw new Error(`type ${describe((s as { type: unknown }).type)} is none of counter, gauge, histogram`);
  if (!Array.isArray(s.values)) throw new Error(`values are ${describe(s.values)}, not an array`);
  const histogram = s.type === 'histogram';
  if (histogram) {
    const problem = bucketsProblem(s.buckets);
    if (problem) throw new Error(problem);
  }
  const out = [`# HELP ${name} ${s.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`, `# TYPE ${name} ${s.type}`];
  for (const v of s.values as Cell[]) {
    const read = readLabels(v?.labels, histogram);
    if ('problem' in read) throw new Error(read.problem);
    if (histogram) {
      const h = v as HistogramValue;
      if (!Array.isArray(h.counts) || h.counts.length !== s.buckets.length + 1) throw new Error(`a cell's counts are not one per bucket and one above`);
      let cumulative = 0;
      s.buckets.forEach((le, i) => {
        cumulative += number(h.counts[i]);
        out.push(`${name}_bucket${labelText({ ...v.labels, le: String(le) })} ${cumulative}`);
      });
      out.push(`${name}_bucket${labelText({ ...v.labels, le: '+Inf' })} ${value(h.count)}`);
      out.push(`${name}_sum${labelText(v.labels)} ${value(h.sum)}`);
      out.push(`${name}_count${labelText(v.labels)} ${value(h.count)}`);
    } else out.push(`${name}${labelText(v.labels)} ${value((v as ScalarValue).value)}`);
  }
  return out;
}

function number(n: unknown): number {
  if (typeof n !== 'number') throw new Error(`a value is ${describe(n)}, not a number`);
  return n;
}

/** A sample value as Prometheus spells it (`+Inf`, `-Inf`, `NaN`). */
function value(n: unknown): string {
  const v = number(n);
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
