// The metrics registry refuses what Prometheus would refuse, where a plugin registers or
// uses a metric, naming the plugin; the renderer skips a family it cannot write instead
// of failing the scrape; totals of families no live worker registers are not shown.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mergeSnapshots, renderPrometheus, withTotals, type MetricSample } from '../../sdk/metrics.ts';
import { MetricsRegistry } from '../../core/metrics.ts';
import { parseExposition } from '../helpers/prometheus.ts';

const plugin = (name = 'hostile') => new MetricsRegistry().forPlugin(name);

describe('metrics registry', () => {
  it('refuses a counter given an object for its name, naming the plugin and the fix', () => {
    const metrics = plugin();
    // The wrong call a JavaScript plugin can make.
    const wrong = metrics.counter as unknown as (o: object) => unknown;
    assert.throws(
      () => wrong({ name: 'requests_total', help: 'Requests' }),
      (err: Error) => {
        assert.match(err.message, /plugin "hostile"/);
        assert.match(err.message, /counter\('name', 'help'\)/);
        return true;
      },
    );
  });

  it('refuses names Prometheus would refuse, and says what would do', () => {
    for (const name of ['a b-c', '1xx_total', '', 'café_total', 'a\nb']) {
      assert.throws(() => plugin().counter(name, 'help'), /plugin "hostile": counter ".*" is not a valid metric name/s, name);
      assert.throws(() => plugin().gauge(name, 'help'), /is not a valid metric name/, name);
      assert.throws(() => plugin().histogram(name, 'help'), /is not a valid metric name/, name);
    }
    assert.throws(() => plugin().counter('a b-c', 'help'), /try "a_b_c"/);
    for (const name of ['requests_total', ':recorded:rate', '_x', 'A9']) assert.doesNotThrow(() => plugin().counter(name, 'help'), name);
  });

  it('refuses help that is not a string', () => {
    assert.throws(
      () => (plugin().counter as (n: string, h?: unknown) => unknown)('x_total'),
      /plugin "hostile": counter "x_total": help must be a string, got undefined/,
    );
  });

  it('refuses label names Prometheus would refuse, where they are used', () => {
    const c = plugin().counter('x_total', 'help');
    for (const label of ['bad-label', '1st', '__reserved', 'é', '']) {
      assert.throws(() => c.inc({ [label]: 'v' }), /plugin "hostile": counter "x_total": label name .* is not valid/, label);
      assert.throws(() => c.bind({ [label]: 'v' }), /is not valid/, label);
    }
    assert.throws(() => c.inc({ 'bad-label': 'v' }), /try "bad_label"/);
    // A histogram's `le` is its buckets'.
    assert.throws(() => plugin().histogram('h_seconds', 'help').observe(1, { le: '1' }), /label name "le" is reserved/);
  });

  it('refuses label values that are not strings, and labels that are not an object', () => {
    const c = plugin().counter('x_total', 'help');
    assert.throws(() => c.inc({ code: 200 } as never), /label "code" must be a string, got 200/);
    assert.throws(() => (c.inc as unknown as (by: number) => void)(5), /labels must be an object .*inc\(undefined, 5\)/);
  });

  it('refuses values that are not finite numbers, and counters going down', () => {
    const metrics = plugin();
    const c = metrics.counter('x_total', 'help');
    assert.throws(() => c.inc(undefined, -1), /counter "x_total": inc takes a finite number >= 0, got -1/);
    assert.throws(() => c.bind({}).inc(NaN), /got NaN/);
    assert.throws(() => c.inc(undefined, '2' as never), /got "2"/);
    const g = metrics.gauge('g', 'help');
    assert.throws(() => g.set(Infinity), /gauge "g": set takes a finite number, got Infinity/);
    assert.throws(() => metrics.histogram('h_seconds', 'help').bind({}).observe(NaN), /observe takes a finite number/);
    assert.throws(() => metrics.histogram('h2_seconds', 'help', [1, 0.5]), /buckets must be finite numbers in increasing order/);
  });

  it('refuses one family name with two types, or two shapes, naming who registered it first', () => {
    const registry = new MetricsRegistry();
    registry.forPlugin('first').counter('shared', 'help');
    assert.throws(
      () => registry.forPlugin('second').gauge('shared', 'help'),
      /plugin "second": gauge "shared" is already a counter, registered by plugin "first"/,
    );
    registry.forPlugin('first').histogram('h_seconds', 'help', [1, 2]);
    assert.throws(() => registry.forPlugin('second').histogram('h_seconds', 'help', [1, 3]), /already a histogram with other buckets/);
    assert.doesNotThrow(() => registry.forPlugin('second').histogram('h_seconds', 'help', [1, 2]));
    // A histogram's series are name_bucket, name_sum and name_count.
    assert.throws(() => registry.forPlugin('second').counter('h_seconds_count', 'help'), /histogram "h_seconds" of plugin "first" writes/);
  });

  it('nothing refused reaches the registry: what renders parses', () => {
    const registry = new MetricsRegistry();
    const metrics = registry.forPlugin('hostile');
    const c = metrics.counter('x_total', 'help');
    for (const bad of [() => metrics.counter('a b-c', 'h'), () => c.inc({ 'bad-label': 'v' }), () => c.inc({ code: 1 } as never)]) assert.throws(bad);
    c.inc({ ok: 'yes' });
    const text = renderPrometheus(registry.snapshot());
    assert.deepEqual([...parseExposition(text).keys()], ['tapgate_x_total']);
  });

  it('label values and help with backslashes, quotes and newlines render escaped and read back the same', () => {
    const registry = new MetricsRegistry();
    const value = 'a "quoted" \\path\\ and\na new line } x="y"';
    const help = 'Help with a \\ backslash,\na new line and "quotes"';
    registry.forPlugin('p').counter('escaped_total', help).inc({ path: value }, 2);
    registry.forPlugin('p').histogram('escaped_seconds', help, [0.1, 1]).observe(0.5, { path: value });
    const text = renderPrometheus(registry.snapshot());
    for (const line of text.split('\n').slice(0, -1)) assert.doesNotMatch(line, /^$/);
    const families = parseExposition(text);
    const counter = families.get('tapgate_escaped_total')!;
    assert.equal(counter.help, help);
    assert.deepEqual(counter.samples, [{ name: 'tapgate_escaped_total', labels: { path: value }, value: 2 }]);
    const histogram = families.get('tapgate_escaped_seconds')!;
    assert.equal(histogram.type, 'histogram');
    assert.deepEqual(histogram.samples.find((s) => s.name.endsWith('_count'))?.labels, { path: value });
  });

  it('one cell for the same labels in any order', () => {
    const registry = new MetricsRegistry();
    const c = registry.forPlugin('p').counter('x_total', 'help');
    c.inc({ a: '1', b: '2' });
    c.bind({ b: '2', a: '1' }).inc();
    const [sample] = registry.snapshot();
    assert.deepEqual(sample!.values, [{ labels: { a: '1', b: '2' }, value: 2 }]);
    parseExposition(
      renderPrometheus(mergeSnapshots([registry.snapshot(), [{ ...sample!, values: [{ labels: { b: '2', a: '1' }, value: 1 }] } as MetricSample]])),
    );
  });
});

describe('rendering Prometheus text', () => {
  const good: MetricSample = { name: 'good_total', help: 'fine', type: 'counter', values: [{ labels: { a: 'b' }, value: 1 }] };

  it('skips a family it cannot write, says so, and writes the others', () => {
    const bad = [
      { name: { name: 'x', help: 'y' }, help: 'h', type: 'counter', values: [] },
      { name: 'a b-c', help: 'h', type: 'counter', values: [] },
      { name: 'no_help', type: 'counter', values: [] },
      { name: 'bad_label', help: 'h', type: 'counter', values: [{ labels: { 'bad-label': 'v' }, value: 1 }] },
      { name: 'bad_value', help: 'h', type: 'gauge', merge: 'sum', values: [{ labels: { a: 1 }, value: 1 }] },
      { name: 'not_a_number', help: 'h', type: 'counter', values: [{ labels: {}, value: '1' }] },
      { name: 'odd_type', help: 'h', type: 'summary', values: [] },
      { name: 'short_counts', help: 'h', type: 'histogram', buckets: [1, 2], values: [{ labels: {}, counts: [1], sum: 1, count: 1 }] },
      null,
    ] as unknown as MetricSample[];
    const skipped: string[] = [];
    const text = renderPrometheus([...bad, good], 'tapgate_', (name, reason) => skipped.push(`${name}: ${reason}`));
    const families = parseExposition(text);
    assert.deepEqual([...families.keys()], ['tapgate_good_total']);
    assert.equal(skipped.length, bad.length, skipped.join('\n'));
    assert.equal(text.split('\n').filter((l) => l.startsWith('# skipped ')).length, bad.length);
  });

  it('writes a family once when two have the same name after the prefix', () => {
    const skipped: string[] = [];
    const text = renderPrometheus([good, { ...good, name: 'tapgate_good_total' }], 'tapgate_', (name) => skipped.push(name));
    assert.equal(parseExposition(text).get('tapgate_good_total')!.samples.length, 1);
    assert.deepEqual(skipped, ['tapgate_good_total']);
  });

  it('writes infinite and NaN gauge values as Prometheus spells them', () => {
    const text = renderPrometheus([
      {
        name: 'g',
        help: 'h',
        type: 'gauge',
        merge: 'sum',
        values: [
          { labels: { v: 'inf' }, value: Infinity },
          { labels: { v: 'nan' }, value: NaN },
        ],
      },
    ]);
    assert.deepEqual(
      parseExposition(text)
        .get('tapgate_g')!
        .samples.map((s) => s.value),
      [Infinity, NaN],
    );
  });
});

describe('totals across reloads', () => {
  const counter = (name: string, value: number): MetricSample => ({ name, help: 'h', type: 'counter', values: [{ labels: {}, value }] });

  it('adds the totals of workers gone to the families live workers register, and shows no other', () => {
    const totals = [counter('kept_total', 5), counter('dropped_total', 7)];
    const merged = withTotals(totals, [[counter('kept_total', 1)], [counter('kept_total', 2), counter('new_total', 1)]]);
    assert.deepEqual(Object.fromEntries(merged.map((s) => [s.name, (s.values[0] as { value: number }).value])), { kept_total: 8, new_total: 1 });
  });

  it('takes the newer family when a name changes type or buckets', () => {
    const histogram = (buckets: number[]): MetricSample => ({
      name: 'x',
      help: 'h',
      type: 'histogram',
      buckets,
      values: [{ labels: {}, counts: buckets.map(() => 1).concat(1), sum: 1, count: buckets.length + 1 }],
    });
    assert.deepEqual(mergeSnapshots([[counter('x', 5)], [histogram([1])]]), [histogram([1])]);
    assert.deepEqual(mergeSnapshots([[histogram([1])], [histogram([1, 2])]]), [histogram([1, 2])]);
    assert.deepEqual(withTotals([counter('x', 5)], [[histogram([1])]]), [histogram([1])]);
  });
});
