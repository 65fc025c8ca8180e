// The metrics registry handed to plugins: counters, gauges and histograms keyed by
// name and label values. Names, labels and values are checked where a plugin registers
// or uses them (each plugin gets its own view, so a refusal names it), so nothing
// Prometheus would refuse gets in. A worker's registry is snapshotted as plain data
// (sdk/metrics.ts: the shape, the rules, merging and rendering).
import {
  bucketsProblem,
  describe,
  labelsKey,
  latencyBuckets,
  metricNameProblem,
  readLabels,
  seriesNames,
  spelling,
  type Cell,
  type Counter,
  type Gauge,
  type GaugeMerge,
  type Histogram,
  type HistogramValue,
  type Metrics,
  type MetricSample,
  type MetricType,
  type ScalarValue,
} from '../sdk/metrics.ts';

/** A misuse of `api.metrics`, refused: `detail` says what, and the message who (`plugin`, or the kernel when undefined). */
export class MetricsError extends Error {
  constructor(
    readonly plugin: string | undefined,
    readonly detail: string,
  ) {
    super(plugin === undefined ? detail : `plugin "${plugin}": ${detail}`);
    this.name = 'MetricsError';
  }
}

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
    const family = (type: MetricType, name: unknown, help: unknown, merge: unknown, buckets: unknown) =>
      this.#family(owner, fail, type, name, help, merge, buckets);
    // Values are checked on every call (a typeof and a comparison); labels on their first use only.
    const what = (f: Family) => `${f.type} ${JSON.stringify(f.name)}`;
    const increment = (f: Family, by: unknown): number =>
      Number.isFinite(by) && (by as number) >= 0 ? (by as number) : fail(`${what(f)}: inc takes a finite number >= 0, got ${describe(by)}`);
    const finite = (f: Family, method: string, value: unknown): number =>
      Number.isFinite(value) ? (value as number) : fail(`${what(f)}: ${method} takes a finite number, got ${describe(value)}`);
    // `inc(5)`, as other clients spell it: say where the 5 goes.
    const incCell = (f: Family, labels: unknown) =>
      typeof labels === 'number'
        ? fail(`${what(f)}: labels must be an object of strings, got ${labels} (the labels come first: inc(undefined, ${labels}))`)
        : f.cell(labels, fail);
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
