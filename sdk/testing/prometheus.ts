// A strict reader of the Prometheus text exposition format 0.0.4 (what /metrics serves): it throws,
// naming the line, on anything Prometheus would refuse (a bad name, a bad escape, a
// family split in two, a repeated series, a histogram that does not add up), and
// returns the families with their samples, label values unescaped.

export interface ParsedSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}
export interface ParsedFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string | undefined;
  samples: ParsedSample[];
}

const metricName = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const labelName = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const float = /^(?:[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN)$/;
const types = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

/** Reads `/metrics` text as Prometheus would, or throws naming the first line it would refuse. */
export function parsePrometheus(text: string): Map<string, ParsedFamily> {
  if (text !== '' && !text.endsWith('\n')) throw new Error('the last line is not terminated by a newline');
  const families = new Map<string, ParsedFamily>();
  const series = new Set<string>();
  let current: ParsedFamily | undefined;
  const lines = text.split('\n').slice(0, -1);
  lines.forEach((line, i) => {
    const fail = (why: string): never => {
      throw new Error(`line ${i + 1}: ${why}: ${JSON.stringify(line)}`);
    };
    // A family's lines are together: once another family starts, it is closed.
    const enter = (name: string): ParsedFamily => {
      if (current?.name === name) return current;
      if (families.has(name)) fail(`family ${name} appears again after other families`);
      current = { name, type: 'untyped', help: undefined, samples: [] };
      families.set(name, current);
      return current;
    };
    if (line === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a comment
      const [, keyword, name, rest = ''] = m;
      if (!metricName.test(name!)) fail(`invalid metric name ${name}`);
      const family = enter(name!);
      if (keyword === 'HELP') {
        if (family.help !== undefined) fail('a second HELP');
        family.help = unescape(rest, new Set(['\\', 'n']), fail);
      } else {
        if (family.samples.length) fail('TYPE after samples');
        if (!types.has(rest)) fail(`unknown type ${rest}`);
        family.type = rest as ParsedFamily['type'];
      }
      return;
    }
    const m = /^([^{\s]+)(?:\{(.*)\})? (\S+)(?: (-?\d+))?$/.exec(line);
    if (!m) fail('not a sample line');
    const [, name, labelText, valueText] = m!;
    if (!metricName.test(name!)) fail(`invalid metric name ${name}`);
    const labels = parseLabels(labelText ?? '', fail);
    if (!float.test(valueText!)) fail(`invalid value ${valueText}`);
    const value = valueText === '+Inf' ? Infinity : valueText === '-Inf' ? -Infinity : Number(valueText);
    const histogramOf = /^(.*)_(bucket|sum|count)$/.exec(name!)?.[1];
    const family = current && current.type === 'histogram' && histogramOf === current.name ? current : enter(name!);
    if (family.type === 'histogram' && name!.endsWith('_bucket') && labels.le === undefined) fail('a bucket without le');
    if (family.type !== 'histogram' && family.type !== 'summary' && name !== family.name) fail(`sample ${name} in family ${family.name}`);
    const key = name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => (a < b ? -1 : 1)));
    if (series.has(key)) fail('a repeated series');
    series.add(key);
    family.samples.push({ name: name!, labels, value });
  });
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f);
  return families;
}

function parseLabels(text: string, fail: (why: string) => never): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest !== '') {
    const m = /^([^=]*)="((?:[^"\\]|\\.)*)"(,?)/.exec(rest);
    if (!m) fail(`cannot read labels at ${JSON.stringify(rest)}`);
    const [all, name, raw, comma] = m!;
    if (!labelName.test(name!) || name!.startsWith('__')) fail(`invalid label name ${JSON.stringify(name)}`);
    if (name! in labels) fail(`label ${name} twice`);
    labels[name!] = unescape(raw!, new Set(['\\', '"', 'n']), fail);
    rest = rest.slice(all!.length);
    if (!comma && rest !== '') fail('labels not separated by commas');
  }
  return labels;
}

function unescape(text: string, allowed: Set<string>, fail: (why: string) => never): string {
  return text.replace(/\\(.?)/g, (_, c: string) => {
    if (!allowed.has(c)) fail(`invalid escape \\${c}`);
    return c === 'n' ? '\n' : c;
  });
}

/** Buckets rise with `le`, their counts never fall, and `+Inf` holds `_count`. */
function checkHistogram(f: ParsedFamily): void {
  const byLabels = new Map<string, { buckets: [number, number][]; count?: number }>();
  for (const s of f.samples) {
    const { le, ...rest } = s.labels;
    const key = JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
    const h = byLabels.get(key) ?? { buckets: [] };
    byLabels.set(key, h);
    if (s.name.endsWith('_bucket')) h.buckets.push([le === '+Inf' ? Infinity : Number(le), s.value]);
    if (s.name.endsWith('_count')) h.count = s.value;
  }
  for (const [key, h] of byLabels) {
    const at = `histogram ${f.name}${key}`;
    h.buckets.forEach(([le, n], i) => {
      if (Number.isNaN(le)) throw new Error(`${at}: a bucket's le is not a number`);
      if (i > 0 && !(le > h.buckets[i - 1]![0])) throw new Error(`${at}: buckets not in increasing order`);
      if (i > 0 && n < h.buckets[i - 1]![1]) throw new Error(`${at}: bucket counts fall`);
    });
    const last = h.buckets.at(-1);
    if (!last || last[0] !== Infinity) throw new Error(`${at}: no +Inf bucket`);
    if (h.count !== last[1]) throw new Error(`${at}: _count ${h.count} is not the +Inf bucket's ${last[1]}`);
  }
}
