// plugin_budget: a slow tap is counted (and logged), an async tap past its timeout fails
// only its request with a 500, and the worker goes on.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startGateway, startOrigin } from '../helpers/gateway.ts';

const plugin = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'sluggish',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tapPromise('sluggish', async (ctx) => {
      if (ctx.path === '/hang') await new Promise((r) => setTimeout(r, 2000));
    });
    api.hooks.http.upstreamRequest.tap('sluggish', (ctx) => {
      if (ctx.path !== '/busy') return;
      const until = performance.now() + 30;
      while (performance.now() < until);
    });
  },
});`;

const count = (snapshot: { name: string; values: { labels: Record<string, string>; value?: number }[] }[], name: string, hook: string) =>
  snapshot.find((m) => m.name === name)?.values.find((v) => v.labels.plugin === 'sluggish' && v.labels.hook === hook)?.value ?? 0;

describe('plugin_budget', () => {
  it('fails a request whose async tap outlives the timeout, counts slow taps, and serves the next request', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway(
      {
        plugin_budget: { slow: '10ms', timeout: '150ms' },
        plugins: ['./sluggish.ts'],
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: { app: { servers: [{ name: 's', address: origin.address }] } },
      },
      { 'sluggish.ts': plugin },
    );
    try {
      const started = performance.now();
      const hung = await fetch(gw.url('/hang'));
      assert.equal(hung.status, 500);
      assert.ok(performance.now() - started < 1500, 'answered at the timeout, not when the tap finished');
      assert.equal((await fetch(gw.url('/busy'))).status, 200, 'a slow sync tap is reported, not failed');
      assert.equal((await fetch(gw.url('/fine'))).status, 200);
      const snapshot = gw.gateway.generation.metrics.snapshot() as never;
      assert.equal(count(snapshot, 'plugin_tap_errors_total', 'http.request'), 1);
      assert.equal(count(snapshot, 'plugin_tap_slow_total', 'http.upstreamRequest'), 1);
    } finally {
      await gw.close();
      await origin.close();
    }
  });
});
