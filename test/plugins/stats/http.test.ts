// Known HTTP traffic through a real gateway, then exact counts on the stats listener:
// /stats.json (and its golden shape), /metrics, /stats.csv and the page.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { csvColumns } from '../../../plugins/stats/csv.ts';
import type { StatsReport } from '../../../plugins/stats/report.ts';
import { knownTraffic, normalise, startStats, type StatsFixture } from './fixture.ts';

const golden = fileURLToPath(new URL('golden/stats.json', import.meta.url));
const zero = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 };

describe('stats plugin: HTTP counts', () => {
  let f: StatsFixture;
  let report: StatsReport;
  before(async () => {
    f = await startStats();
    await knownTraffic(f.gw);
    report = await f.report();
  });
  after(() => f.close());

  const backend = (name: string) => report.backends.find((b) => b.name === name)!;
  const server = (b: string, s: string) => backend(b).servers.find((x) => x.name === s)!;

  it('counts the frontend: sessions, responses by class, denied, errors and bytes', () => {
    const fe = report.frontends[0]!;
    assert.equal(fe.name, 'web');
    assert.equal(fe.mode, 'http');
    assert.deepEqual(fe.sessions, { current: 0, max: 1, total: 36 });
    assert.deepEqual(fe.responses, { ...zero, '2xx': 30, '4xx': 5, '5xx': 1 });
    assert.deepEqual(fe.response_pct, { ...zero, '2xx': 83.3, '4xx': 13.9, '5xx': 2.8 });
    assert.equal(fe.denied, 1, 'the 403 a plugin answered');
    assert.equal(fe.errors, 1, 'the 503 of the unreachable backend');
    assert.deepEqual(fe.bytes, { in: 0, out: 100 });
    assert.ok(fe.connections >= 1);
    assert.equal(fe.latency.total.count, 36);
  });

  it('counts each route, the default one included', () => {
    const routes = Object.fromEntries(report.frontends[0]!.routes.map((r) => [r.name, { sessions: r.sessions, responses: r.responses, backend: r.backend }]));
    assert.deepEqual(routes, {
      missing: { sessions: 4, responses: { ...zero, '4xx': 4 }, backend: 'app' },
      admin: { sessions: 1, responses: { ...zero, '4xx': 1 }, backend: 'app' },
      broken: { sessions: 1, responses: { ...zero, '5xx': 1 }, backend: 'dead' },
      default: { sessions: 30, responses: { ...zero, '2xx': 30 }, backend: 'app' },
    });
  });

  it('counts requests per server by weight, with bytes and time to first byte', () => {
    assert.deepEqual(server('app', 'a').sessions, { current: 0, max: 1, total: 20 });
    assert.deepEqual(server('app', 'b').sessions, { current: 0, max: 1, total: 10 });
    assert.deepEqual(server('app', 'a').responses, { ...zero, '2xx': 20 });
    assert.deepEqual(server('app', 'a').bytes, { in: 0, out: 20 });
    assert.deepEqual(server('app', 'b').bytes, { in: 0, out: 10 });
    assert.equal(server('app', 'a').latency.ttfb.count, 20);
    assert.equal(server('app', 'a').status, 'UP');
    const app = backend('app');
    assert.deepEqual(app.sessions, { current: 0, max: 1, total: 30 });
    assert.deepEqual(app.responses, { ...zero, '2xx': 30 });
    assert.deepEqual({ status: app.status, up: app.servers_up, weight: app.weight }, { status: 'UP', up: 2, weight: 3 });
    assert.equal(app.latency.ttfb.count, 30);
    assert.equal(app.latency.queue.count, 0, 'nothing waited for a slot');
  });

  it('counts failed connections and retries on the backend, and every failed try on its server', () => {
    const dead = backend('dead');
    assert.equal(dead.sessions.total, 1);
    assert.deepEqual(dead.responses, { ...zero, '5xx': 1 });
    assert.equal(dead.retries, 2, 'retries: 2 by default, on the one server there is');
    assert.deepEqual(dead.errors, { connection: 3, response: 0 });
    assert.deepEqual(server('dead', 'x').errors, { connection: 3, response: 0 }, 'the first try and both retries, on the one server there is');
    assert.deepEqual(dead.bytes, { in: 0, out: '503 Service Unavailable\n'.length });
  });

  it('shows the plugins that ran with their cost', () => {
    const respond = report.plugins.find((p) => p.name === 'respond')!;
    assert.equal(respond.hooks.find((h) => h.hook === 'http.request')!.calls, 5);
    const stats = report.plugins.find((p) => p.name === 'stats')!;
    assert.equal(stats.hooks.find((h) => h.hook === 'http.responseSent')!.calls, 36);
    assert.equal(stats.errors, 0);
  });

  it('keeps the documented shape of /stats.json (golden file)', () => {
    const shape = JSON.stringify(normalise(report), null, 2) + '\n';
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, shape);
    assert.equal(shape, readFileSync(golden, 'utf8'));
  });

  it('serves the same counts as Prometheus text on /metrics', async () => {
    const res = await f.stats('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const lines = new Set((await res.text()).split('\n'));
    for (const line of [
      'tapgate_frontend_sessions_total{frontend="web"} 36',
      'tapgate_frontend_responses_total{frontend="web",code="4xx"} 5',
      'tapgate_frontend_denied_total{frontend="web"} 1',
      'tapgate_frontend_bytes_out_total{frontend="web"} 100',
      'tapgate_route_sessions_total{frontend="web",route="missing"} 4',
      'tapgate_server_sessions_total{backend="app",server="a"} 20',
      'tapgate_server_sessions_total{backend="app",server="b"} 10',
      'tapgate_server_responses_total{backend="app",server="b",code="2xx"} 10',
      'tapgate_backend_connection_errors_total{backend="dead"} 3',
      'tapgate_backend_retries_total{backend="dead"} 2',
      'tapgate_backend_ttfb_seconds_count{backend="app"} 30',
      'tapgate_backend_ttfb_seconds_bucket{backend="app",le="+Inf"} 30',
      'tapgate_server_status{backend="app",server="a",status="UP"} 1',
      'tapgate_server_status{backend="app",server="a",status="DOWN"} 0',
      'tapgate_server_weight{backend="app",server="a"} 2',
      '# TYPE tapgate_backend_session_seconds histogram',
      'tapgate_plugin_tap_seconds_count{plugin="respond",hook="http.request"} 5',
    ])
      assert.ok(lines.has(line), `missing: ${line}`);
  });

  it('serves one CSV row per frontend, server and backend', async () => {
    const res = await f.stats('/stats.csv');
    assert.match(res.headers.get('content-type')!, /^text\/csv/);
    const [head, ...rows] = (await res.text())
      .trimEnd()
      .split('\r\n')
      .map((l) => l.split(','));
    assert.deepEqual(head, [...csvColumns]);
    const byName = new Map(rows.map((r) => [`${r[0]}/${r[1]}`, Object.fromEntries(head!.map((c, i) => [c, r[i]]))]));
    assert.deepEqual([...byName.keys()], ['web/FRONTEND', 'app/a', 'app/b', 'app/BACKEND', 'dead/x', 'dead/BACKEND']);
    const pick = (key: string, ...cols: string[]) => cols.map((c) => byName.get(key)![c]);
    assert.deepEqual(pick('web/FRONTEND', 'type', 'sessions_total', 'responses_2xx', 'responses_4xx', 'responses_5xx', 'denied', 'bytes_out'), [
      'frontend',
      '36',
      '30',
      '5',
      '1',
      '1',
      '100',
    ]);
    assert.deepEqual(pick('app/a', 'type', 'status', 'weight', 'sessions_total', 'bytes_out'), ['server', 'UP', '2', '20', '20']);
    assert.deepEqual(pick('app/b', 'sessions_total', 'responses_2xx'), ['10', '10']);
    assert.deepEqual(pick('dead/BACKEND', 'type', 'connection_errors', 'retries', 'responses_5xx'), ['backend', '3', '2', '1']);
  });

  it('serves the page, rendered on the server, with every backend and server', async () => {
    for (const path of ['/', '/stats']) {
      const res = await f.stats(path);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type')!, /^text\/html/);
      assert.match(res.headers.get('content-security-policy')!, /script-src 'nonce-/);
      const html = await res.text();
      for (const id of ['app/a', 'app/b', 'dead/x']) assert.match(html, new RegExp(`data-server="${id}" data-status="UP"`));
      assert.match(html, /data-backend="app"/);
      assert.match(html, /data-backend="dead"/);
      assert.match(html, /data-frontend="web"/);
    }
  });

  it('leaves other paths and methods to the kernel', async () => {
    assert.equal((await f.stats('/nothing')).status, 404);
    assert.equal((await fetch(`http://127.0.0.1:${f.gw.statsPort}/stats.json`, { method: 'POST' })).status, 404);
    assert.equal((await f.stats('/api/status')).status, 200);
  });
});
