// A small metrics registry handed to plugins. Counters and gauges keyed by name and
// label values; the stats plugin and exporters read them through `snapshot()`.

export type Labels = Readonly<Record<string, string>>;

export interface Counter {
  inc(labels?: Labels, by?: number): void;
}
export interface Gauge {
  set(value: number, labels?: Labels): void;
  add(by: number, labels?: Labels): void;
}
export interface Metrics {
  counter(name: string, help: string): Counter;
  gauge(name: string, help: string): Gauge;
}

export interface MetricSample {
  name: string;
  help: string;
  type: 'counter' | 'gauge';
  values: { labels: Labels; value: number }[];
}

const keyOf = (labels: Labels | undefined) => (labels ? JSON.stringify(labels) : '');

class Family {
  readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(readonly name: string, readonly help: string, readonly type: 'counter' | 'gauge') {}
  add(by: number, labels: Labels | undefined) {
    const key = keyOf(labels);
    const v = this.values.get(key);
    if (v) v.value += by;
    else this.values.set(key, { labels: labels ?? {}, value: by });
  }
  set(value: number, labels: Labels | undefined) {
    this.values.set(keyOf(labels), { labels: labels ?? {}, value });
  }
}

export class MetricsRegistry implements Metrics {
  readonly #families = new Map<string, Family>();

  #family(name: string, help: string, type: 'counter' | 'gauge'): Family {
    let f = this.#families.get(name);
    if (!f) this.#families.set(name, (f = new Family(name, help, type)));
    else if (f.type !== type) throw new Error(`metric ${name} is already a ${f.type}`);
    return f;
  }

  counter(name: string, help: string): Counter {
    const f = this.#family(name, help, 'counter');
    return { inc: (labels, by = 1) => f.add(by, labels) };
  }

  gauge(name: string, help: string): Gauge {
    const f = this.#family(name, help, 'gauge');
    return { set: (value, labels) => f.set(value, labels), add: (by, labels) => f.add(by, labels) };
  }

  snapshot(): MetricSample[] {
    return [...this.#families.values()].map((f) => ({ name: f.name, help: f.help, type: f.type, values: [...f.values.values()].map((v) => ({ ...v })) }));
  }
}
