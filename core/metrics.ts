// The metrics registry handed to plugins: counters, gauges and histograms keyed by
// name and label values. Names, labels and values are checked where a plugin registers
// or uses them (each plugin gets its own view, so a refusal names it), so nothing
// Prometheus would refuse gets in. A worker's registry is snapshotted as plain data;
// the master merges the snapshots of every worker (and of workers gone in reloads, so
// totals survive them), and `renderPrometheus` writes the result in Prometheus text
// format, skipping (and reporting) a family it cannot write rather than failing.

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

/** A misuse of `api.metrics`, refused: `detail` says what, and the message who (`plugin`, or the kernel when undefined). */
export class MetricsError extends Error {
  constructor(readonly plugin: string | undefined, readonly detail: string) {
    super(plugin === undefined ? detail : `plugin "${plugin}": ${detail}`);
    this.name = 'MetricsError';
  }
}

const metricNamePattern = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelNamePattern = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** Why `name` is no Prometheus metric name (letters, digits, `_` and `:`, no digit first), or undefined. */
function metricNameProblem(name: string): string | undefined {
  if (metricNamePattern.test(name)) return undefined;
  const fixed = name.replace(/[^a-zA-Z0-9_:]/g, '_').replace(/^(?=[0-9])/, '_');
  return `metric names are letters, digits, _ and :, not starting with a digit${name && metricNamePattern.test(fixed) ? ` (try ${JSON.stringify(fixed)})` : ''}`;
}

/** Why `name` is no Prometheus label name (letters, digits and `_`, no digit first, no `__` first), or undefined. */
function labelNameProblem(name: string): string | undefined {
  if (labelNamePattern.test(name) && !name.startsWith('__')) return undefined;
  const fixed = name.replace(/[^a-zA-Z0-9_]/g, '_').replace(/^_+/, '').replace(/^(?=[0-9])/, 'l');
  return `label name ${JSON.stringify(name)} is not valid: label names are letters, digits and _, not starting with a digit, and a leading __ is Prometheus' own${fixed && fixed !== name ? ` (try ${JSON.stringify(fixed)})` : ''}`;
}

/**
 * `labels` copied (each value read once), or why they cannot label a series: names as
 * Prometheus has them, string values, and on a histogram no `le` (its buckets').
 */
function readLabels(labels: unknown, histogram: boolean): { labels: Labels } | { problem: string } {
  if (labels === undefined) return { labels: {} };
  if (typeof labels !== 'object' || labels === null || Array.isArray(labels)) return { problem: `labels must be an object of strings, got ${describe(labels)}` };
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

function bucketsProblem(buckets: unknown): string | undefined {
  const ok = Array.isArray(buckets) && buckets.every((b, i) => Number.isFinite(b) && (i === 0 || b > buckets[i - 1]));
  return ok ? undefined : `buckets must be finite numbers in increasing order, got ${Array.isArray(buckets) ? `[${buckets.map(describe).join(', ')}]` : describe(buckets)}`;
}

/** A JavaScript value, as a message shows what was found. */
function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint' || v === undefined || v === null) return String(v);
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'function' ? 'a function' : 'an object';
}

/** One key for the same labels in any order (and none for no labels), so they share one cell. */
const labelsKey = (labels: Labels) => {
  const names = Object.keys(labels);
  return names.length ? JSON.stringify(names.sort().map((n) => [n, labels[n]])) : '';
};

/** The labels as the caller wrote them, for a lookup that costs one stringify; undefined when they cannot be written. */
function spelling(labels: unknown): string | undefined {
  if (labels === undefined) return '';
  try {
    return JSON.stringify(labels);
  } catch {
    return undefined;
  }
}

type Cell = ScalarValue | HistogramValue;
type MetricType = MetricSample['type'];

class Family {
  /** Cells by their labels' spelling: the first use of a spelling checks it, later ones only look it up. */
  readonly #bySpelling = new Map<string, Cell>();
  readonly #cells = new Map<string, Cell>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: MetricType,
    readonly merge: GaugeMerge,
    readonly buckets: readonly number[],
    /** Who registered it first: `plugin "x"` or `the kernel`. */
    readonly owner: string,
  ) {}

  /** The cell for `labels`, made on first use; `fail` throws, naming who used them. */
  cell(labels: unknown, fail: (detail: string) => never): Cell {
    const spelt = spelling(labels);
    const known = spelt === undefined ? undefined : this.#bySpelling.get(spelt);
    if (known) return known;
    const read = readLabels(labels, this.type === 'histogram');
    if ('problem' in read) return fail(`${this.type} ${JSON.stringify(this.name)}: ${read.problem}`);
    const clean = read.labels;
    const key = labelsKey(clean);
    let cell = this.#cells.get(key);
    if (!cell) {
      cell = this.type === 'histogram' ? { labels: clean, counts: new Array(this.buckets.length + 1).fill(0), sum: 0, count: 0 } : { labels: clean, value: 0 };
      this.#cells.set(key, cell);
    }
    if (spelt !== undefined) this.#bySpelling.set(spelt, cell);
    return cell;
  }

  snapshot(): MetricSample {
    const { name, help } = this;
    if (this.type === 'histogram') {
      const values = [...this.#cells.values()].map((v) => ({ ...(v as HistogramValue), labels: { ...v.labels }, counts: [...(v as HistogramValue).counts] }));
      return { name, help, type: 'histogram', buckets: [...this.buckets], values };
    }
    const values = [...this.#cells.values()].map((v) => ({ labels: { ...v.labels }, value: (v as ScalarValue).value }));
    return this.type === 'counter' ? { name, help, type: 'counter', values } : { name, help, type: 'gauge', merge: this.merge, values };
  }
}

function observe(h: HistogramValue, buckets: readonly number[], value: number): void {
  let i = 0;
  while (i < buckets.length && value > buckets[i]!) i++;
  h.counts[i]!++;
  h.sum += value;
  h.count++;
}

/** The series names a family writes: a histogram's are its name with `_bucket`, `_sum` and `_count`. */
const seriesNames = (name: string, type: unknown) => (type === 'histogram' ? [name, `${name}_bucket`, `${name}_sum`, `${name}_count`] : [name]);

/**
 * One generation's metrics. Plugins each get a view (`forPlugin`) whose refusals name
 * them; the registry's own methods are the kernel's view.
 */
export class MetricsRegistry implements Metrics {
  readonly #families = new Map<string, Family>();
  /** Which family writes each series name, so two families cannot write the same. */
  readonly #series = new Map<string, Family>();
  readonly #kernel = this.forPlugin(undefined);

  counter(name: string, help: string): Counter {
    return this.#kernel.counter(name, help);
  }
  gauge(name: string, help: string, merge?: GaugeMerge): Gauge {
    return this.#kernel.gauge(name, help, merge);
  }
  histogram(name: string, help: string, buckets?: readonly number[]): Histogram {
    return this.#kernel.histogram(name, help, buckets);
  }

  /** What `plugin` registers and uses through: every refusal is a MetricsError naming it. */
  forPlugin(plugin: string | undefined): Metrics {
    const owner = plugin === undefined ? 'the kernel' : `plugin ${JSON.stringify(plugin)}`;
    const fail = (detail: string): never => {
      throw new MetricsError(plugin, detail);
    };
    const family = (type: MetricType, name: unknown, help: unknown, merge: unknown, buckets: unknown) => this.#family(owner, fail, type, name, help, merge, buckets);
    // Values are checked on every call (a typeof and a comparison); labels on their first use only.
    const what = (f: Family) => `${f.type} ${JSON.stringify(f.name)}`;
    const increment = (f: Family, by: unknown): number =>
      Number.isFinite(by) && (by as number) >= 0 ? (by as number) : fail(`${what(f)}: inc takes a finite number >= 0, got ${describe(by)}`);
    const finite = (f: Family, method: string, value: unknown): number => (Number.isFinite(value) ? (value as number) : fail(`${what(f)}: ${method} takes a finite number, got ${describe(value)}`));
    // `inc(5)`, as other clients spell it: say where the 5 goes.
    const incCell = (f: Family, labels: unknown) =>
      typeof labels === 'number' ? fail(`${what(f)}: labels must be an object of strings, got ${labels} (the labels come first: inc(undefined, ${labels}))`) : f.cell(labels, fail);
    return {
      counter: (name, help) => {
        const f = family('counter', name, help, 'sum', []);
        return {
          inc: (labels, by = 1) => void ((incCell(f, labels) as ScalarValue).value += increment(f, by)),
          bind: (labels) => {
            const c = f.cell(labels, fail) as ScalarValue;
            return { inc: (by?: number) => void (c.value += by === undefined ? 1 : increment(f, by)) };
          },
        };
      },
      gauge: (name, help, merge = 'sum') => {
        const f = family('gauge', name, help, merge, []);
        return {
          set: (value, labels) => void ((f.cell(labels, fail) as ScalarValue).value = finite(f, 'set', value)),
          add: (by, labels) => void ((f.cell(labels, fail) as ScalarValue).value += finite(f, 'add', by)),
          bind: (labels) => {
            const c = f.cell(labels, fail) as ScalarValue;
            return { set: (value) => void (c.value = finite(f, 'set', value)), add: (by) => void (c.value += finite(f, 'add', by)) };
          },
        };
      },
      histogram: (name, help, buckets = latencyBuckets) => {
        const f = family('histogram', name, help, 'sum', buckets);
        return {
          observe: (value, labels) => observe(f.cell(labels, fail) as HistogramValue, f.buckets, finite(f, 'observe', value)),
          bind: (labels) => {
            const c = f.cell(labels, fail) as HistogramValue;
            return { observe: (value) => observe(c, f.buckets, finite(f, 'observe', value)) };
          },
        };
      },
    };
  }

  /** The family `name`, registered now or before with the same type and shape; anything else is refused through `fail`. */
  #family(owner: string, fail: (detail: string) => never, type: MetricType, name: unknown, help: unknown, merge: unknown, buckets: unknown): Family {
    if (typeof name !== 'string') {
      const wrongCall = typeof name === 'object' && name !== null ? ` (write ${type}('name', 'help'), not ${type}({ name, help }))` : '';
      return fail(`api.metrics.${type}(name, help) takes the name as a string, got ${describe(name)}${wrongCall}`);
    }
    const what = `${type} ${JSON.stringify(name)}`;
    const nameProblem = metricNameProblem(name);
    if (nameProblem) fail(`${what} is not a valid metric name: ${nameProblem}`);
    if (typeof help !== 'string') fail(`${what}: help must be a string, got ${describe(help)}`);
    if (merge !== 'sum' && merge !== 'max') fail(`${what}: merge is "sum" or "max", got ${describe(merge)}`);
    const bucketProblem = type === 'histogram' ? bucketsProblem(buckets) : undefined;
    if (bucketProblem) fail(`${what}: ${bucketProblem}`);
    const bounds = buckets as readonly number[];
    const f = this.#families.get(name);
    if (f) {
      if (f.type !== type) fail(`${what} is already a ${f.type}, registered by ${f.owner}: a metric has one type`);
      if (type === 'histogram' && (f.buckets.length !== bounds.length || f.buckets.some((b, i) => b !== bounds[i])))
        fail(`${what} is already a histogram with other buckets, registered by ${f.owner} ([${f.buckets.join(', ')}] there, [${bounds.join(', ')}] here)`);
      if (type === 'gauge' && f.merge !== merge) fail(`${what} is already a gauge merged by ${f.merge}, registered by ${f.owner}`);
      return f;
    }
    const series = seriesNames(name, type);
    for (const s of series) {
      const other = this.#series.get(s);
      if (other) fail(`${what} cannot be registered: ${other.type} ${JSON.stringify(other.name)} of ${other.owner} writes ${s}`);
    }
    const made = new Family(name, help as string, type, merge, type === 'histogram' ? [...bounds] : [], owner);
    this.#families.set(name, made);
    for (const s of series) this.#series.set(s, made);
    return made;
  }

  /** Plain data, safe to send over IPC. */
  snapshot(): MetricSample[] {
    return [...this.#families.values()].map((f) => f.snapshot());
  }
}

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
  if (s.type !== 'counter' && s.type !== 'gauge' && s.type !== 'histogram') throw new Error(`type ${describe((s as { type: unknown }).type)} is none of counter, gauge, histogram`);
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
