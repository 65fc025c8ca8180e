// The stats plugin under a real master with two workers: /stats.json and /metrics count
// what both workers served, and keep counting across a reload (generation 2).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestMaster, type TestMaster, type TestOrigin } from 'tapgate/sdk/testing';
import type { StatsReport } from '../../../plugins/stats/report.ts';
import { until } from './fixture.ts';

describe('stats plugin across two workers and a reload', () => {
  let a: TestOrigin;
  let b: TestOrigin;
  let master: TestMaster;
  let web: number;
  let stats: number;
  before(async () => {
    master = await createTestMaster({
      config: {
        workers: 2,
        hard_stop_after: '5s',
        stats: { bind: '127.0.0.1:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: {
          app: {
            servers: [
              { name: 'a', address: 'origin:a' },
              { name: 'b', address: 'origin:b', weight: 1 },
            ],
          },
        },
      },
      origins: { a: 'name', b: 'name' },
    });
    [a, b] = [master.origins.a!, master.origins.b!];
    [web, stats] = [master.port(), master.statsPort!];
  });
  after(() => master?.close());

  const report = async () => (await (await fetch(`http://127.0.0.1:${stats}/stats.json`)).json()) as StatsReport;
  const metric = async (line: string) =>
    (await (await fetch(`http://127.0.0.1:${stats}/metrics`)).text())
      .split('\n')
      .find((l) => l.startsWith(line + ' '))
      ?.slice(line.length + 1);
  /** `n` requests, each on its own connection, so both workers take some. */
  const hit = async (n: number) => {
    for (let i = 0; i < n; i++) assert.equal((await fetch(`http://127.0.0.1:${web}/`, { headers: { connection: 'close' } })).status, 200);
  };
  const servers = (r: StatsReport) => Object.fromEntries(r.backends[0]!.servers.map((s) => [s.name, s.sessions.total]));

  it('counts what both workers served, exactly', async () => {
    await hit(40);
    const r = await report();
    assert.equal(r.gateway.workers.length, 2);
    assert.equal(r.frontends[0]!.sessions.total, 40);
    assert.equal(r.frontends[0]!.responses['2xx'], 40);
    assert.deepEqual(servers(r), { a: a.requests.length, b: b.requests.length });
    assert.equal(r.backends[0]!.sessions.total, 40);
    // Each worker set the plugin up once: the merged metrics hold both.
    assert.equal(await metric('tapgate_plugin_tap_seconds_count{plugin="stats",hook="app.boot"}'), '2');
    assert.equal(await metric('tapgate_frontend_sessions_total{frontend="web"}'), '40');
  });

  it('keeps the totals across a reload and shows the new generation', async () => {
    const reloaded = await master.reload();
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded));
    await hit(20);
    // The old workers' totals join once they are gone; until then they answer for themselves.
    await until(
      async () => {
        const r = await report();
        return r.gateway.generation === 2 && r.gateway.workers.every((w) => w.generation === 2) && r.frontends[0]!.sessions.total === 60;
      },
      15_000,
      'generation 2 alone, 60 requests counted',
    );
    const r = await report();
    assert.equal(r.gateway.workers.length, 2);
    assert.deepEqual(servers(r), { a: a.requests.length, b: b.requests.length });
    assert.equal(a.requests.length + b.requests.length, 60);
    assert.deepEqual(r.frontends[0]!.responses, { '1xx': 0, '2xx': 60, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 });
    assert.equal(await metric('tapgate_plugin_tap_seconds_count{plugin="stats",hook="app.boot"}'), '4');
  });
});
