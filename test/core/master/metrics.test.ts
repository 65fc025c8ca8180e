// /metrics under a real master with two workers, across reloads: a reload to a plugin
// that misuses api.metrics is refused with the plugin named and every scrape keeps
// answering; a reload that drops a plugin's metric makes its family go away, while a
// counter the new generation still registers keeps its total.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deadPort, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../../helpers/master.ts';
import { parseExposition } from '../../helpers/prometheus.ts';
import { until } from '../../plugins/stats/fixture.ts';

const hostileValue = 'say "hi" \\ and\nbye';

/** A plugin counting every request in `metric`. */
const counting = (name: string, metric: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: '${name}', version: '1.0.0', setup(api) {
    const seen = api.metrics.counter('${metric}', 'Requests seen by ${name}').bind({ note: ${JSON.stringify(hostileValue)} });
    api.hooks.http.request.tap(api.name, () => seen.inc());
  }});`;

const wrongCall = (body: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'wrong-call', version: '1.0.0', setup(api) { ${body} } });`;

describe('master and workers: /metrics across reloads', () => {
  let origin: TestOrigin;
  let master: TestMaster;
  let web: number;
  let stats: number;
  const config = (plugins: string[]) => `
workers: 2
log: { level: warn, access: false }
hard_stop_after: 5s
stats: { bind: 127.0.0.1:${stats} }
frontends:
  web:
    bind: 127.0.0.1:${web}
    default_backend: app
    plugins: [${plugins.map((p) => `{ use: ./${p}.ts }`).join(', ')}]
backends:
  app:
    servers: [ { name: a, address: ${origin.address} } ]
`;
  before(async () => {
    origin = await startOrigin('app');
    web = await deadPort();
    stats = await deadPort();
    master = await startMaster(config(['kept', 'dropped']), {
      'kept.ts': counting('kept', 'kept_requests_total'),
      'dropped.ts': counting('dropped', 'dropped_requests_total'),
    });
  });
  after(async () => {
    await master.stop(true);
    await origin.close();
  });

  /** `n` requests, each on its own connection, so both workers take some. */
  const hit = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await fetch(`http://127.0.0.1:${web}/`, { headers: { connection: 'close' } })).status, 200);
  };
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${stats}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return parseExposition(text);
  };
  const total = (families: Map<string, { samples: { labels: Record<string, string>; value: number }[] }>, name: string) => {
    const samples = families.get(name)?.samples;
    assert.equal(samples?.length, 1, `${name}: ${JSON.stringify(samples)}`);
    assert.deepEqual(samples![0]!.labels, { note: hostileValue });
    return samples![0]!.value;
  };

  it("merges both workers' counters into text Prometheus can read", async () => {
    await hit(10);
    const families = await scrape();
    assert.equal(total(families, 'tapgate_kept_requests_total'), 10);
    assert.equal(total(families, 'tapgate_dropped_requests_total'), 10);
  });

  for (const [what, body, message] of [
    ['counter({ name, help })', `api.metrics.counter({ name: 'calls_total', help: 'Calls' });`, /counter\('name', 'help'\)/],
    ["counter('a b-c', ...)", `api.metrics.counter('a b-c', 'Calls');`, /counter "a b-c" is not a valid metric name/],
    ['an invalid label name', `api.metrics.counter('calls_total', 'Calls').bind({ 'bad-label': 'x' });`, /label name "bad-label" is not valid/],
  ] as const) {
    it(`refuses a reload to a plugin calling ${what}, naming the plugin, and /metrics keeps answering`, async () => {
      master.write(config(['kept', 'dropped', 'wrong-call']), { 'wrong-call.ts': wrongCall(body) });
      const reloaded = await master.reload();
      assert.equal(reloaded.ok, false, JSON.stringify(reloaded));
      const problem = reloaded.problems?.find((p) => p.severity === 'error');
      assert.equal(problem?.path, 'frontends.web.plugins[2]');
      assert.match(problem!.message, /^plugin "wrong-call" failed to set up: /);
      assert.match(problem!.message, message);
      const families = await scrape();
      assert.equal(total(families, 'tapgate_kept_requests_total'), 10);
    });
  }

  it('drops a family once no worker registers it, and keeps the totals of a counter still registered', async () => {
    master.write(config(['kept']));
    const reloaded = await master.reload();
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    await until(async () => (await master.status()).workers.every((w) => w.generation === reloaded.generation), 15_000, 'the new generation alone');
    await hit(5);
    // Reloaded in place, a worker keeps the old generation (and its families) until hard_stop_after disposes of it.
    await until(async () => !(await scrape()).has('tapgate_dropped_requests_total'), 15_000, 'the dropped family to go');
    const families = await scrape();
    assert.equal(total(families, 'tapgate_kept_requests_total'), 15);
  });
});
