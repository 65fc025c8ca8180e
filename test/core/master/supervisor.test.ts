// The master as a supervisor: a serving worker that dies is replaced at once (the others
// keep the port), a worker that cannot start is tried again later each time, and every
// death is counted in /metrics, /stats.json and on the stats page.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deadPort, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../../helpers/master.ts';
import { load, until } from '../../helpers/load.ts';
import type { StatsReport } from '../../../plugins/stats/report.ts';

/** Exits while starting (in setup) whenever a file named `crash` sits beside the config: a worker that cannot start. */
const crashing = `
  import { existsSync } from 'node:fs';
  import { join } from 'node:path';
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'crash', version: '1.0.0', setup(api) {
    if (existsSync(join(api.dir, 'crash'))) process.exit(3);
  }});`;

describe('master and workers: a worker that dies', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin('a');
  });
  after(() => origin.close());

  const config = (port: number, stats: number) => `
workers: 2
hard_stop_after: 5s
log: { level: warn, access: false }
stats: { bind: 127.0.0.1:${stats} }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app, plugins: [ { use: ./crash.ts } ] }
backends:
  app: { servers: [ { name: a, address: ${origin.address} } ] }
`;
  const start = async () => {
    const port = await deadPort();
    const stats = await deadPort();
    return { port, stats, master: await startMaster(config(port, stats), { 'crash.ts': crashing }) };
  };
  const ready = (master: TestMaster) =>
    until(
      async () => {
        const workers = (await master.status()).workers.filter((w) => w.state === 'ready');
        return workers.length === 2 && workers;
      },
      30_000,
      'two workers ready',
    );
  /** The first status in which none of `pids` is listed any more. */
  const gone = (master: TestMaster, pids: number[]) =>
    until(
      async () => {
        const s = await master.status();
        return !s.workers.some((w) => pids.includes(w.pid)) && s;
      },
      10_000,
      `workers ${pids.join(', ')} gone`,
    );
  const metric = async (stats: number, line: string) =>
    (await (await fetch(`http://127.0.0.1:${stats}/metrics`)).text())
      .split('\n')
      .find((l) => l.startsWith(line + ' '))
      ?.slice(line.length + 1);

  it(
    'replaces a worker killed with SIGKILL at once, kill after kill under load: no connection refused, every death counted',
    { timeout: 180_000 },
    async (t) => {
      const { port, stats, master } = await start();
      const kills = 6;
      const traffic = load(port, 2, 1, { ms: 120_000 });
      try {
        for (let i = 1; i <= kills; i++) {
          const victim = (await ready(master))[i % 2]!.pid;
          process.kill(victim, 'SIGKILL');
          // The master forks the replacement as it removes the dead worker: no status shows one without the other.
          const after = await gone(master, [victim]);
          assert.equal(after.workers.length, 2, `kill ${i}: a replacement as soon as the dead worker is gone: ${JSON.stringify(after.workers)}`);
        }
        await ready(master);
      } finally {
        await traffic.stop();
      }
      try {
        const refused = traffic.failures.filter((f) => f === 'ECONNREFUSED');
        t.diagnostic(
          `${kills} kills, ${traffic.ok} requests; failed: ${traffic.failures.length} (${[...new Set(traffic.failures)].join(', ') || 'none'}), in flight on the killed workers`,
        );
        assert.deepEqual(refused, [], `${refused.length} connections refused of ${traffic.ok + traffic.failures.length}`);
        assert.ok(traffic.ok > 100, `only ${traffic.ok} requests made it`);
        assert.equal(await metric(stats, 'tapgate_worker_deaths_total{reason="SIGKILL",state="ready"}'), String(kills));
        assert.equal(await metric(stats, 'tapgate_worker_restarts_total'), String(kills));
        const report = (await (await fetch(`http://127.0.0.1:${stats}/stats.json`)).json()) as StatsReport;
        assert.equal(report.gateway.worker_deaths.total, kills);
        assert.equal(report.gateway.worker_deaths.last?.reason, 'SIGKILL');
        const page = await (await fetch(`http://127.0.0.1:${stats}/stats`)).text();
        assert.match(page, new RegExp(`${kills} worker deaths`));
      } finally {
        await master.stop();
      }
    },
  );

  it('starts a replacement for each at once when every serving worker dies together', { timeout: 180_000 }, async () => {
    const { port, master } = await start();
    try {
      const victims = (await ready(master)).map((w) => w.pid);
      for (const pid of victims) process.kill(pid, 'SIGKILL');
      const after = await gone(master, victims);
      assert.equal(after.workers.length, 2, `replacements as soon as the dead workers are gone: ${JSON.stringify(after.workers)}`);
      await ready(master);
      const res = await fetch(`http://127.0.0.1:${port}/`, { headers: { connection: 'close' } });
      assert.equal(res.status, 200);
    } finally {
      await master.stop();
    }
  });

  it('tries a replacement that crashes while starting again, later each time, while the other worker serves', { timeout: 180_000 }, async (t) => {
    const { port, stats, master } = await start();
    const flag = join(master.dir, 'crash');
    const traffic = load(port, 2, 0, { ms: 120_000 });
    try {
      const [victim] = await ready(master);
      writeFileSync(flag, '');
      process.kill(victim!.pid, 'SIGKILL');
      const crashedAtStart = 'tapgate_worker_deaths_total{reason="exit 3",state="starting"}';
      await until(async () => Number(await metric(stats, crashedAtStart)) >= 3, 30_000, 'three replacements crashing at start');
      rmSync(flag);
      await ready(master);
      const delays = master.log.filter((l) => l.includes('cannot start')).map((l) => (JSON.parse(l) as { retryInMs: number }).retryInMs);
      t.diagnostic(`retried after ${delays.join(', ')} ms`);
      assert.deepEqual(delays.slice(0, 3), [100, 200, 400]);
    } finally {
      rmSync(flag, { force: true });
      await traffic.stop();
      await master.stop();
    }
    assert.deepEqual(
      traffic.failures.filter((f) => f === 'ECONNREFUSED'),
      [],
    );
    assert.ok(traffic.ok > 50, `only ${traffic.ok} requests made it`);
  });
});
