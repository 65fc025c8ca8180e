// The report's pieces on their own: quantiles from buckets, statuses from views, the
// page's escaping, and the README's metrics table against the metric definitions.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { ServerView } from 'tapgate/sdk';
import { TestServer, testMetrics, type TestServerInit } from 'tapgate/sdk/testing';
import { M } from '../../../plugins/stats/metrics.ts';
import { buildReport, quantile } from '../../../plugins/stats/report.ts';
import { renderPage, renderTables } from '../../../plugins/stats/page.ts';
import { downtimeMs, serverStatus } from '../../../plugins/stats/status.ts';
import { Counting } from '../../../plugins/stats/counting.ts';

const server = (over: TestServerInit & { name?: string } = {}): ServerView => new TestServer(over.name ?? 's', { address: { host: '::1', port: 80 }, ...over });
/** A server's health before any check. */
const unchecked = () => new TestServer('s').health;

describe('stats report', () => {
  it('estimates quantiles inside the bucket that holds them, as histogram_quantile does', () => {
    const bounds = [0.001, 0.01, 0.1];
    const near = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} is not ${b}`);
    assert.equal(quantile(bounds, [0, 0, 0, 0], 0.5), null);
    near(quantile(bounds, [10, 0, 0, 0], 0.5), 0.0005);
    near(quantile(bounds, [0, 10, 0, 0], 0.5), 0.0055);
    near(quantile(bounds, [50, 40, 10, 0], 0.99), 0.01 + 0.09 * 0.9);
    assert.equal(quantile(bounds, [0, 0, 0, 4], 0.5), 0.1, 'above the last bound: the bound');
  });

  it('names server statuses as HAProxy does, maintenance first', () => {
    assert.equal(serverStatus(server()), 'UP');
    assert.equal(serverStatus(server({ up: false })), 'DOWN');
    assert.equal(serverStatus(server({ state: 'drain' })), 'DRAIN');
    assert.equal(serverStatus(server({ state: 'drain', up: false })), 'DOWN');
    assert.equal(serverStatus(server({ state: 'maint', up: false })), 'MAINT');
    assert.equal(serverStatus(server({ weight: 0 })), 'NOLB');
  });

  it('adds the current down period to the downtime of ended ones', () => {
    const health = { ...unchecked(), downtime: 5000, downSince: 1000 };
    assert.equal(downtimeMs(server({ health }), 4000), 8000);
    assert.equal(downtimeMs(server({ health: { ...health, downSince: undefined } }), 4000), 5000);
  });

  it('builds a report from a registry with zeros before any traffic, and escapes every text on the page', () => {
    const registry = testMetrics();
    const hostile = '<img src=x onerror=alert(1)>';
    const s = server({
      name: 'a',
      backend: 'b',
      up: false,
      health: {
        ...unchecked(),
        checked: true,
        lastResult: 'failed',
        lastError: `body does not contain "${hostile}"`,
        lastDuration: 2,
        checks: 3,
        failedChecks: 3,
      },
    });
    const backend = { name: 'b', mode: 'http' as const, balance: 'roundrobin', servers: [s], active: 0, peakActive: 0, queued: 0, peakQueued: 0 };
    const counting = new Counting(registry);
    counting.bindAll(['web'], [backend]);
    counting.collect([backend], 10_000);
    const report = buildReport({
      samples: registry.snapshot(),
      status: { pid: 1, generation: 7, config: 'x.yaml', uptime_s: 5, workers: [], worker_deaths: { total: 0, last: null } },
      frontends: new Map([['web', { name: 'web', mode: 'http', binds: [{ host: '::1', port: 8080 }], defaultBackend: 'b', maxconn: 0 }]]),
      routes: () => [],
      backends: new Map([['b', backend]]),
      now: 10_000,
    });
    assert.deepEqual(report.frontends[0]!.binds, ['[::1]:8080']);
    assert.deepEqual(report.frontends[0]!.sessions, { current: 0, max: 0, total: 0 });
    assert.equal(report.backends[0]!.status, 'DOWN');
    assert.deepEqual(report.backends[0]!.servers[0]!.check, {
      result: 'failed',
      duration_ms: 2,
      error: `body does not contain "${hostile}"`,
      at: null,
      checks: 3,
      failed: 3,
    });
    const html = renderTables(report);
    assert.ok(!html.includes('<img'), 'no markup from data');
    assert.ok(html.includes('&lt;img src=x onerror=alert(1)&gt;'));
    const { html: page, csp } = renderPage(report);
    const nonce = /'nonce-([^']+)'/.exec(csp)![1]!;
    assert.equal([...page.matchAll(/<script nonce="([^"]+)">/g)].map((m) => m[1]).join(), nonce, 'one script, with the nonce');
  });

  it('documents every metric in the README table', () => {
    const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.slice(readme.indexOf('## Stats'), readme.indexOf('\n## ', readme.indexOf('## Stats') + 1));
    const listed = new Set<string>();
    for (const row of section.split('\n').filter((l) => l.startsWith('| `tapgate_'))) {
      const names = [...row.split('|')[1]!.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
      const first = names[0]!;
      listed.add(first);
      // `_bytes_out_total` beside `tapgate_x_bytes_in_total` means `tapgate_x_bytes_out_total`.
      for (const suffix of names.slice(1)) listed.add(first.slice(0, first.indexOf(`_${suffix.split('_')[1]}_`)) + suffix);
    }
    assert.deepEqual(
      [...listed].sort(),
      Object.values(M)
        .map((d) => `tapgate_${d.name}`)
        .sort(),
    );
  });
});
