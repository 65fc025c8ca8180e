// api.take under a real master with two workers, answered from leases: the master hands
// each worker a share of what is left and the workers spend it without a message, yet
// the fleet never allows more than the limit, a burst under it all passes, and a refusal
// still says when to come back. The master counts the messages it exchanges for api.take
// (take_messages_total on /metrics): before leases, two per request (an ask, an answer).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createTestMaster, type TestMaster } from 'tapgate/sdk/testing';
import { LeaseBroker } from '../../../core/master/leases.ts';
import { LeasedTakes } from '../../../core/master/leased-takes.ts';
import { WindowCounters } from '../../../core/rate-windows.ts';
import type { TakeOptions } from '../../../sdk/index.ts';

/** A master's broker and `n` workers' leases in one process, on one fake clock; `asks` counts what would be messages. */
function fleet(n: number, clock: { now: number }) {
  const now = () => clock.now;
  const counts = { asks: 0, recalls: 0 };
  const workers: LeasedTakes[] = [];
  const broker = new LeaseBroker(
    async (id, key) => {
      counts.recalls++;
      return workers[id]!.recall(key);
    },
    () => n,
    100,
    now,
  );
  for (let id = 0; id < n; id++)
    workers.push(
      new LeasedTakes(
        (key, o, returned) => {
          counts.asks++;
          return broker.ask(id, key, o, returned);
        },
        100,
        now,
      ),
    );
  return { workers, counts };
}

/** A deterministic sequence in [0, 1). */
function random(seed: number) {
  return () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31) / 2 ** 31;
}

describe('leases on a fake clock', () => {
  it('within a window, two workers decide every take as one counter would, Retry-After included, with far fewer asks', async () => {
    const clock = { now: 1_800_000_000_000 };
    const { workers, counts } = fleet(2, clock);
    const reference = new WindowCounters(100, () => clock.now);
    const rand = random(7);
    const differences: string[] = [];
    for (let i = 0; i < 400; i++) {
      const o: TakeOptions = { limit: 300, window: 60_000, cost: rand() < 0.9 ? 1 : 2 };
      const got = await workers[Math.floor(rand() * 2)]!.take('k', o);
      const want = reference.take('k', o);
      if (got.allowed !== want.allowed || got.retryAfter !== want.retryAfter) differences.push(`take ${i}: ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`);
      clock.now += Math.floor(rand() * 100);
    }
    assert.deepEqual(differences, []);
    assert.ok(counts.asks < 100, `${counts.asks} asks for 400 takes`);
  });

  it('over many windows, what the fleet allowed never exceeds the limit by the sliding estimate', async () => {
    const clock = { now: 1_800_000_000_000 };
    const { workers, counts } = fleet(3, clock);
    const window = 1000;
    const limit = 50;
    const rand = random(11);
    const allowed = new Map<number, number>();
    const over: string[] = [];
    let takes = 0;
    for (let i = 0; i < 5000; i++) {
      const cost = 1;
      const r = await workers[Math.floor(rand() * 3)]!.take('k', { limit, window, cost });
      takes++;
      const start = clock.now - (clock.now % window);
      if (r.allowed) allowed.set(start, (allowed.get(start) ?? 0) + cost);
      const estimate = (allowed.get(start - window) ?? 0) * (1 - (clock.now - start) / window) + (allowed.get(start) ?? 0);
      if (estimate > limit) over.push(`${estimate} at ${clock.now - start} ms into a window`);
      clock.now += Math.floor(rand() * 5);
    }
    assert.deepEqual(over, []);
    assert.ok(
      [...allowed.values()].some((n) => n >= limit * 0.8),
      'some windows were used nearly to the limit',
    );
    assert.ok(counts.asks < takes / 2, `${counts.asks} asks for ${takes} takes`);
  });

  it('units leased but unspent when the window turns are handed back on the next ask, not counted against the next window', async () => {
    const clock = { now: 1_800_000_000_000 };
    const { workers } = fleet(2, clock);
    const o = { limit: 100, window: 1000 };
    assert.equal((await workers[0]!.take('k', o)).remaining, 99);
    clock.now += 1000 - (clock.now % 1000);
    // At the start of the next window the previous one weighs whole: 1 taken there, 1 now.
    assert.equal((await workers[0]!.take('k', o)).remaining, 98);
  });

  it('a take that finds the master empty gets back what another worker holds', async () => {
    const clock = { now: 1_800_000_000_000 };
    const { workers, counts } = fleet(2, clock);
    const o = { limit: 10, window: 60_000 };
    assert.equal((await workers[0]!.take('k', o)).allowed, true);
    const others = [];
    for (let i = 0; i < 9; i++) others.push((await workers[1]!.take('k', o)).allowed);
    assert.deepEqual(others, Array(9).fill(true));
    assert.ok(counts.recalls > 0);
    const refused = await workers[0]!.take('k', o);
    assert.equal(refused.allowed, false);
    assert.ok(refused.retryAfter > 0);
  });
});

const limited = (limit: number, window = '1h') => ({
  bind: '127.0.0.1:0',
  default_backend: 'app',
  plugins: [{ use: 'rate-limit', options: { limit, window } }],
});

/** Says which worker answered (x-pid) on the server's responses (a refusal has none). */
const pidPlugin = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'pid',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.upstreamResponse.tap('pid', (_ctx, res) => {
      res.headers['x-pid'] = String(process.pid);
    });
  },
});
`;

describe('api.take with two workers: leases', () => {
  let master: TestMaster;
  const config = (level: string) => ({
    workers: 2,
    log: { level, access: false },
    stats: { bind: '127.0.0.1:0' },
    frontends: {
      burst: limited(200),
      over: limited(50),
      many: limited(100_000),
      refused: limited(5),
      reloaded: limited(40),
      pinned: { ...limited(20), plugins: [{ use: './pid.ts' }, ...limited(20).plugins] },
    },
    backends: { app: { servers: [{ name: 'a', address: 'origin:a' }] } },
  });
  before(async () => {
    master = await createTestMaster({ config: config('warn'), origins: { a: 'name' }, plugins: { 'pid.ts': pidPlugin } });
    assert.equal((await master.status()).workers.length, 2);
  });
  after(() => master?.close());

  /** `n` requests, `parallel` at a time, each on a new connection (so both workers take some); their answers. */
  const hit = async (frontend: string, n: number, parallel: number) => {
    const seen: { status: number; retryAfter: string | null; at: number }[] = [];
    let next = 0;
    const one = async () => {
      while (next++ < n) {
        const res = await fetch(`http://127.0.0.1:${master.port(frontend)}/`, { headers: { connection: 'close' } });
        await res.arrayBuffer();
        seen.push({ status: res.status, retryAfter: res.headers.get('retry-after'), at: Date.now() });
      }
    };
    await Promise.all(Array.from({ length: parallel }, one));
    return seen;
  };
  /** One request on `agent`'s connection: its status and the pid of the worker that answered. */
  const get = (frontend: string, agent: http.Agent) =>
    new Promise<{ status: number; pid: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: master.port(frontend), path: '/', agent }, (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode!, pid: String(res.headers['x-pid']) }));
        })
        .on('error', reject);
    });
  const passed = (seen: { status: number }[]) => seen.filter((s) => s.status === 200).length;
  const messages = async () => {
    const text = await (await fetch(`http://127.0.0.1:${master.statsPort}/metrics`)).text();
    const line = /^\w*take_messages_total(?:\{\})? (\d+)$/m.exec(text);
    assert.ok(line, text);
    return Number(line[1]);
  };

  it('a burst under the limit is all allowed: 180 of a limit of 200, 12 at a time', async () => {
    const seen = await hit('burst', 180, 12);
    assert.equal(passed(seen), 180, seen.map((s) => s.status).join(' '));
  });

  it('400 requests against a limit of 50, 16 at a time, allow exactly 50, never more', async () => {
    const seen = await hit('over', 400, 16);
    assert.equal(passed(seen), 50);
    assert.equal(seen.filter((s) => s.status === 429).length, 350);
  });

  it('the messages between master and workers per request fall far below the two of an ask per request', async () => {
    const before = await messages();
    await hit('many', 300, 8);
    const perRequest = ((await messages()) - before) / 300;
    assert.ok(perRequest < 0.5, `${perRequest} messages per request`);
  });

  it('a worker holding leased units gives them back when the other runs out: 1 + 19 of a limit of 20 pass on two connections to two workers', async () => {
    // Keep-alive connections stay with the worker that accepted them: open some until two workers answer.
    const byPid = new Map<string, http.Agent>();
    const agents: http.Agent[] = [];
    for (let i = 0; byPid.size < 2; i++) {
      assert.ok(i < 40, 'two workers accept connections');
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      agents.push(agent);
      const first = await get('pinned', agent);
      if (!byPid.has(first.pid)) byPid.set(first.pid, agent);
    }
    // Every connection opened took one unit; the rest go to one worker while the other may hold a lease.
    const used = agents.length;
    const [a, b] = [...byPid.values()];
    const seen = [];
    for (let i = used; i < 20; i++) seen.push((await get('pinned', b!)).status);
    assert.deepEqual(seen, Array(20 - used).fill(200), 'every unit was allowed, those leased to the other worker too');
    assert.equal((await get('pinned', b!)).status, 429);
    assert.equal((await get('pinned', a!)).status, 429, 'the other worker holds nothing any more');
    for (const agent of agents) agent.destroy();
  });

  it('across a reload that starts new workers, what the old ones leased and did not spend is handed back: 40 of 10 + 60 pass', async () => {
    const before = await hit('reloaded', 10, 4);
    // A new log level: the workers open their log at start, so the reload forks new ones.
    const reloaded = await master.reload({ config: config('error') });
    assert.equal(reloaded.ok, true, JSON.stringify(reloaded.problems));
    const after = await hit('reloaded', 60, 4);
    assert.equal(passed(before), 10);
    assert.equal(passed(after), 30, after.map((s) => s.status).join(' '));
  });

  it('429s carry the Retry-After of the sliding window, whichever worker refuses', async () => {
    const seen = await hit('refused', 40, 4);
    assert.equal(passed(seen), 5);
    const hour = 3_600_000;
    for (const s of seen.filter((s) => s.status === 429)) {
      // 5 taken this hour: the 6th fits once a fifth of the next hour has passed (5 × 4/5 + 1 = 5).
      const expected = Math.ceil((hour - (s.at % hour) + hour / 5) / 1000);
      const told = Number(s.retryAfter);
      assert.ok(Math.abs(told - expected) <= 1, `Retry-After ${s.retryAfter}, expected about ${expected}`);
    }
  });
});
