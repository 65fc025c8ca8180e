// /metrics against plugins that misuse api.metrics: a bad call in setup refuses the
// plugin with a located message; a bad call in a request tap fails that request only;
// either way every scrape answers 200 with text Prometheus can read. And a family that
// a new generation no longer registers goes away.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway, parsePrometheus, type TestGateway } from 'tapgate/sdk/testing';

const hostileValue = 'say "hi" \\ and\nbye';

/** Counts requests by a label named after `?label=`, with a value full of quotes, backslashes and newlines. */
const labelling = `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'labelling', version: '1.0.0', setup(api) {
    const seen = api.metrics.counter('labelled_requests_total', 'Requests, labelled by a name the client chose');
    api.hooks.http.request.tap(api.name, (ctx) => {
      const label = new URL(ctx.url, 'http://x').searchParams.get('label');
      if (label) seen.inc({ [label]: ${JSON.stringify(hostileValue)} });
    });
  }});`;

/** A plugin whose setup runs `body` with `metrics` (its api.metrics). */
const setupCalls = (name: string, body: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: '${name}', version: '1.0.0', setup(api) { const metrics = api.metrics; ${body} } });`;

describe('/metrics with plugins that misuse api.metrics', () => {
  let gw: TestGateway;
  before(async () => {
    gw = await createTestGateway({
      config: {
        stats: { bind: '127.0.0.1:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './labelling.ts' }] } },
        backends: { app: { servers: [{ name: 'a', address: 'origin:app' }] } },
      },
      plugins: { './labelling.ts': labelling },
      origins: { app: 'name' },
    });
  });
  after(() => gw?.close());

  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${gw.statsPort}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    return parsePrometheus(text);
  };

  it('fails only its own request when a request tap uses an invalid label name, and every scrape still parses', async () => {
    assert.equal((await fetch(gw.url('/?label=bad-label'))).status, 500);
    assert.equal((await fetch(gw.url('/'))).status, 200);
    const families = await scrape();
    const errors = families.get('tapgate_plugin_tap_errors_total')!.samples.find((s) => s.labels.plugin === 'labelling' && s.labels.hook === 'http.request');
    assert.equal(errors?.value, 1);
    assert.equal(families.get('tapgate_labelled_requests_total')?.samples.length ?? 0, 0);
  });

  it('writes label values with quotes, backslashes and newlines escaped, and they read back unchanged', async () => {
    assert.equal((await fetch(gw.url('/?label=said'))).status, 200);
    const res = await fetch(`http://127.0.0.1:${gw.statsPort}/metrics`);
    const text = await res.text();
    assert.ok(text.includes(`tapgate_labelled_requests_total{said="say \\"hi\\" \\\\ and\\nbye"} 1\n`), text);
    const families = parsePrometheus(text);
    assert.deepEqual(families.get('tapgate_labelled_requests_total')!.samples, [
      { name: 'tapgate_labelled_requests_total', labels: { said: hostileValue }, value: 1 },
    ]);
  });

  for (const [what, body, message] of [
    [
      'counter({ name, help }) instead of counter(name, help)',
      `metrics.counter({ name: 'calls_total', help: 'Calls' });`,
      /plugin "wrong-call" failed to set up: .*counter\('name', 'help'\)/,
    ],
    [
      'a metric name with a space and a dash',
      `metrics.counter('a b-c', 'Calls');`,
      /plugin "wrong-call" failed to set up: .*counter "a b-c" is not a valid metric name/,
    ],
    [
      'a label name with a dash',
      `metrics.gauge('queued', 'Queued').bind({ 'queue-name': 'x' });`,
      /plugin "wrong-call" failed to set up: .*gauge "queued": label name "queue-name" is not valid/,
    ],
  ] as const) {
    it(`refuses a plugin whose setup calls ${what}, naming the plugin where the config uses it`, async () => {
      const config = {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './wrong-call.ts' }] } },
        backends: { app: { servers: [{ name: 'a', address: 'origin:app' }] } },
      };
      await assert.rejects(
        createTestGateway({ config, plugins: { './wrong-call.ts': setupCalls('wrong-call', body) }, origins: { app: 'name' } }),
        (err: Error) => {
          assert.match(err.message, message);
          assert.match(err.message, /frontends\.web\.plugins\[0\]/);
          return true;
        },
      );
    });
  }
});

/** A plugin counting every request in `metric`. */
const counting = (name: string, metric: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: '${name}', version: '1.0.0', setup(api) {
    const seen = api.metrics.counter('${metric}', 'Requests seen by ${name}').bind({});
    api.hooks.http.request.tap(api.name, () => seen.inc());
  }});`;

describe('/metrics across a generation swap in one process', () => {
  let gw: TestGateway;
  const config = (plugins: string[]) => ({
    stats: { bind: '127.0.0.1:0' },
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: plugins.map((p) => ({ use: `./${p}.ts` })) } },
    backends: { app: { servers: [{ name: 'a', address: 'origin:app' }] } },
  });
  before(async () => {
    gw = await createTestGateway({
      config: config(['kept', 'dropped']),
      plugins: { './kept.ts': counting('kept', 'kept_requests_total'), './dropped.ts': counting('dropped', 'dropped_requests_total') },
      origins: { app: 'name' },
    });
  });
  after(() => gw?.close());

  const hit = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await fetch(gw.url('/'))).status, 200);
  };
  const scrape = async () => {
    const res = await fetch(`http://127.0.0.1:${gw.statsPort}/metrics`);
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const families = parsePrometheus(text);
    return (name: string) => families.get(`tapgate_${name}`)?.samples[0]?.value;
  };

  it('drops a family the new generation does not register once the old one is gone, and keeps the totals of one it does', async () => {
    await hit(3);
    assert.equal((await scrape())('dropped_requests_total'), 3);
    const next = await gw.reload({ config: config(['kept']) });
    assert.ok(next.ok, JSON.stringify(next));
    // While the old generation drains, it still registers the family.
    await next.retired();
    await hit(2);
    const value = await scrape();
    assert.equal(value('dropped_requests_total'), undefined, 'the dropped family is still rendered');
    assert.equal(value('kept_requests_total'), 5);
  });
});
