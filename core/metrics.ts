// The metrics registry handed to plugins: counters, gauges and histograms keyed by
// name and label values. A worker's registry is snapshotted as plain data; the master
// merges the snapshots of every worker (and of workers gone in reloads, so totals
// survive them), and `renderPrometheus` writes the result in Prometheus text format.

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

const keyOf = (labels: Labels | undefined) => (labels ? JSON.stringify(labels) : '');

class ScalarFamily {
  readonly values = new Map<string, ScalarValue>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge', readonly merge: GaugeMerge) {}
  cell(labels: Labels | undefined): ScalarValue {
    const key = keyOf(labels);
    let v = this.values.get(key);
    if (!v) this.values.set(key, (v = { labels: { ...labels }, value: 0 }));
    return v;
  }
}

class HistogramFamily {
  readonly values = new Map<string, HistogramValue>();
  readonly type = 'histogram';
  constructor(readonly name: string, readonly help: string, readonly buckets: readonly number[]) {}
  cell(labels: Labels | undefined): HistogramValue {
    const key = keyOf(labels);
    let v = this.values.get(key);
    if (!v) this.values.set(key, (v = { labels: { ...labels }, counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 }));
    return v;
  }
}

function observe(h: HistogramValue, buckets: readonly number[], value: number): void {
  let i = 0;
  while (i < buckets.length && value > buckets[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

export class MetricsRegistry implements Metrics {
  readonly #families = new Map<string, ScalarFamily | HistogramFamily>();

  #family<F extends ScalarFamily | HistogramFamily>(name: string, type: F['type'], make: () => F): F {
    const f = this.#families.get(name);
    if (!f) {
      const made = make();
      this.#families.set(name, made);
      return made;
    }
    if (f.type !== type) throw new Error(`metric ${name} is already a ${f.type}`);
    return f as F;
  }

  counter(name: string, help: string): Counter {
    const f = this.#family(name, 'counter', () => new ScalarFamily(name, help, 'counter', 'sum'));
    return {
      inc: (labels, by = 1) => void (f.cell(labels).value += by),
      bind: (labels) => {
        const cell = f.cell(labels);
        return { inc: (by = 1) => void (cell.value += by) };
      },
    };
  }

  gauge(name: string, help: string, merge: GaugeMerge = 'sum'): Gauge {
    const f = this.#family(name, 'gauge', () => new ScalarFamily(name, help, 'gauge', merge));
    return {
      set: (value, labels) => void (f.cell(labels).value = value),
      add: (by, labels) => void (f.cell(labels).value += by),
      bind: (labels) => {
        const cell = f.cell(labels);
        return { set: (value) => void (cell.value = value), add: (by) => void (cell.value += by) };
      },
    };
  }

  histogram(name: string, help: string, buckets: readonly number[] = latencyBuckets): Histogram {
    const f = this.#family(name, 'histogram', () => new HistogramFamily(name, help, [...buckets]));
    return {
      observe: (value, labels) => observe(f.cell(labels), f.buckets, value),
      bind: (labels) => {
        const cell = f.cell(labels);
        return { observe: (value) => observe(cell, f.buckets, value) };
      },
    };
  }

  /** Plain data, safe to send over IPC. */
  snapshot(): MetricSample[] {
    return [...this.#families.values()].map((f): MetricSample => {
      if (f instanceof HistogramFamily) return { name: f.name, help: f.help, type: 'histogram', buckets: [...f.buckets], values: [...f.values.values()].map((v) => ({ ...v, labels: { ...v.labels }, counts: [...v.counts] })) };
      const values = [...f.values.values()].map((v) => ({ labels: { ...v.labels }, value: v.value }));
      return f.type === 'counter' ? { name: f.name, help: f.help, type: 'counter', values } : { name: f.name, help: f.help, type: 'gauge', merge: f.merge, values };
    });
  }
}

/**
 * Merges snapshots (of several workers, or a retired total and the live ones):
 * counters and histograms add up, gauges add or take the max as declared.
 */
export function mergeSnapshots(snapshots: readonly (readonly MetricSample[])[]): MetricSample[] {
  const out = new Map<string, MetricSample>();
  for (const snapshot of snapshots) {
    for (const sample of snapshot) {
      const into = out.get(sample.name);
      if (!into) {
        out.set(sample.name, structuredClone(sample));
        continue;
      }
      if (into.type !== sample.type) continue;
      const cells = new Map<string, ScalarValue | HistogramValue>(into.values.map((v) => [keyOf(v.labels), v]));
      for (const v of sample.values) {
        const cell = cells.get(keyOf(v.labels));
        if (!cell) {
          const copy = structuredClone(v);
          (into.values as (ScalarValue | HistogramValue)[]).push(copy);
          cells.set(keyOf(v.labels), copy);
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
  return [...out.values()];
}

/** What survives a worker's exit into the totals: counters and histograms, not gauges (a gone worker holds no sessions). */
export function retained(snapshot: readonly MetricSample[]): MetricSample[] {
  return snapshot.filter((s) => s.type !== 'gauge');
}

/** Prometheus text exposition format 0.0.4; names get `prefix` unless they have it. */
export function renderPrometheus(samples: readonly MetricSample[], prefix = 'tapgate_'): string {
  const out: string[] = [];
  const fullName = (n: string) => (n.startsWith(prefix) ? n : prefix + n);
  for (const s of [...samples].sort((a, b) => a.name.localeCompare(b.name))) {
    const name = fullName(s.name);
    out.push(`# HELP ${name} ${s.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')}`);
    out.push(`# TYPE ${name} ${s.type}`);
    if (s.type === 'histogram') {
      for (const v of s.values) {
        let cumulative = 0;
        s.buckets.forEach((le, i) => {
          cumulative += v.counts[i] ?? 0;
          out.push(`${name}_bucket${labelText({ ...v.labels, le: String(le) })} ${cumulative}`);
        });
        out.push(`${name}_bucket${labelText({ ...v.labels, le: '+Inf' })} ${v.count}`);
        out.push(`${name}_sum${labelText(v.labels)} ${v.sum}`);
        out.push(`${name}_count${labelText(v.labels)} ${v.count}`);
      }
    } else for (const v of s.values) out.push(`${name}${labelText(v.labels)} ${v.value}`);
  }
  return out.join('\n') + '\n';
}

function labelText(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`);
  return parts.length ? `{${parts.join(',')}}` : '';
}
