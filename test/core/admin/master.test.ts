// The stats listener under a real master with two workers: metrics merged from both,
// totals kept across a reload, and a drain through the API reaching every worker.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { freePort, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../../helpers/master.ts';
import { counterPlugin, readCount } from './fixture.ts';

describe('stats across workers and reloads', () => {
  let a: TestOrigin;
  let b: TestOrigin;
  let master: TestMaster;
  let web: number;
  let stats: number;
  const config = (weightB: number, level = 'warn') => `
workers: 2
log: { level: ${level}, access: false }
hard_stop_after: 5s
stats: { bind: 127.0.0.1:${stats} }
plugins: [./counter.ts]
frontends:
  web: { bind: 127.0.0.1:${web}, default_backend: app }
backends:
  app:
    servers:
      - { name: a, address: ${a.address} }
      - { name: b, address: ${b.address}, weight: ${weightB} }
`;
  before(async () => {
    a = await startOrigin('a');
    b = await startOrigin('b');
    web = await freePort();
    stats = await freePort();
    master = await startMaster(config(1), { 'counter.ts': counterPlugin });
  });
  after(async () => {
    await master.stop(true);
    await a.close();
    await b.close();
  });

  const count = async () => readCount(await (await fetch(`http://127.0.0.1:${stats}/count`)).json());
  /** `n` requests, each on a new connection (so both workers take some). */
  const hit = async (n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push(await (await fetch(`http://127.0.0.1:${web}/`, { headers: { connection: 'close' } })).text());
    return seen;
  };

  it('merges the metrics of both workers into exact totals', async () => {
    const start = await count();
    assert.equal(start.workers, 2);
    assert.equal(start.pids.length, 2, 'both workers answered');
    await hit(40);
    const now = await count();
    assert.equal((now.requests.a ?? 0) + (now.requests.b ?? 0), 40);
  });

  it("a plugin's broadcast reaches every worker and gathers their answers", async () => {
    const pids = await (await fetch(`http://127.0.0.1:${stats}/whoami`)).json();
    assert.equal(new Set(pids).size, 2, `answers from both workers: ${pids}`);
    assert.deepEqual([...pids].sort(), (await count()).pids.map(Number).sort());
  });

  it('a shared budget (api.take) holds across both workers: 10 of 30 requests pass', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) statuses.push((await fetch(`http://127.0.0.1:${web}/limited`, { headers: { connection: 'close' } })).status);
    assert.equal(statuses.filter((s) => s === 200).length, 10, statuses.join(' '));
    assert.equal(statuses.filter((s) => s === 429).length, 20);
  });

  it('keeps totals across a reload in place, and shows the new generation', async () => {
    const before = await count();
    const reloaded = await master.reload();
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded.problems));
    assert.deepEqual(reloaded.workers, { inPlace: true });
    await hit(10);
    const after = await count();
    const total = (c: typeof after) => (c.requests.a ?? 0) + (c.requests.b ?? 0);
    assert.equal(total(after), total(before) + 10);
    assert.equal(after.generation, 2);
    assert.deepEqual([...after.pids].sort(), [...before.pids].sort(), 'the same two workers serve the new generation');
  });

  it('keeps totals across a reload that starts new workers', async () => {
    const before = await count();
    // A new log level: each worker opens its log at start, so the reload forks new ones.
    master.write(config(1, 'error'));
    const reloaded = await master.reload();
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded.problems));
    assert.equal(reloaded.workers?.inPlace, false);
    await hit(10);
    // Until the old workers have exited and handed in their final counts, they answer live; either way the total is exact.
    const after = await count();
    const total = (c: typeof after) => (c.requests.a ?? 0) + (c.requests.b ?? 0);
    assert.equal(total(after), total(before) + 10);
    assert.equal(after.generation, 3);
    for (let i = 0; (await master.status()).workers.length > 2; i++) {
      assert.ok(i < 200, 'the old workers leave within 10 s');
      await new Promise((r) => setTimeout(r, 50));
    }
    const settled = await count();
    assert.equal(total(settled), total(before) + 10, 'the old workers’ counts are kept after they exit');
    assert.equal(settled.pids.length, 4, 'both generations of workers are in the totals');
  });

  it('drain through the API reaches every worker: no new request goes to the server', async () => {
    const res = await fetch(`http://127.0.0.1:${stats}/api/servers/app/a`, { method: 'POST', body: JSON.stringify({ state: 'drain' }) });
    assert.equal(res.status, 200, await res.text());
    const seen = await hit(20);
    assert.deepEqual([...new Set(seen)], ['b']);
    // And it outlives a reload.
    assert.equal((await master.reload()).ok, true);
    assert.deepEqual([...new Set(await hit(10))], ['b']);
    const status = await (await fetch(`http://127.0.0.1:${stats}/api/status`)).json();
    assert.equal(status.generation, 4);
  });

  it('answers POST /api/reload with the reload it asked for, though that reload drains the worker answering', async () => {
    const before = (await master.status()).generation;
    // Back to the first log level: the reload starts new workers and drains the one answering.
    master.write(config(1));
    const res = await fetch(`http://127.0.0.1:${stats}/api/reload`, { method: 'POST' });
    assert.equal(res.status, 200);
    const reply = (await res.json()) as { ok: boolean; generation: number };
    assert.equal(reply.ok, true);
    assert.equal(reply.generation, before + 1);
    assert.equal(res.headers.get('connection'), 'close', 'the draining worker closes the connection after the answer');
  });
});
