import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startGateway, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import type { Backend, UpstreamServer } from '../../../core/upstream/backend.ts';

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false, headers }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** An origin that holds each request until `release()`, counting how many it holds at once. */
async function heldOrigin(name: string) {
  const held: (() => void)[] = [];
  const o = { peak: 0, now: 0, origin: undefined as unknown as TestOrigin, release: () => held.splice(0).forEach((f) => f()), waiting: () => held.length };
  o.origin = await startOrigin(name, (req, res) => {
    o.now++;
    o.peak = Math.max(o.peak, o.now);
    req.resume();
    held.push(() => {
      o.now--;
      res.end(name);
    });
  });
  return o;
}

const until = async (cond: () => boolean, what: string) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(cond(), `timed out waiting for ${what}`);
};

describe('servers: maxconn and the queue', () => {
  it('serves every request with none lost and no server above its maxconn', async () => {
    const a = await heldOrigin('a');
    const b = await heldOrigin('b');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: {
        app: {
          timeouts: { queue: '10s' },
          servers: [
            { name: 'a', address: a.origin.address, maxconn: 2 },
            { name: 'b', address: b.origin.address, maxconn: 1 },
          ],
        },
      },
    });
    try {
      const answers = Array.from({ length: 20 }, () => get(gw.url()).catch((e: Error) => ({ status: 0, error: e.message })));
      const backend = gw.gateway.generation.backends.get('app')!;
      let served = 0;
      while (served < 20) {
        // Every request not yet served is either held by a server or waiting in the queue.
        await until(() => served + a.waiting() + b.waiting() + backend.queued === 20 && a.waiting() + b.waiting() > 0, 'every request to arrive');
        assert.ok(a.now <= 2 && b.now <= 1);
        served += a.waiting() + b.waiting();
        a.release();
        b.release();
      }
      const results = await Promise.all(answers);
      assert.deepEqual(
        results.filter((r) => r.status !== 200),
        [],
      );
      assert.equal(a.peak, 2);
      assert.equal(b.peak, 1);
    } finally {
      a.release();
      b.release();
      await gw.close();
      await Promise.all([a.origin.close(), b.origin.close()]);
    }
  });

  it('answers 503 to a request that waited in the queue longer than timeouts.queue', async () => {
    const a = await heldOrigin('a');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: { timeouts: { queue: '200ms' }, servers: [{ name: 'a', address: a.origin.address, maxconn: 1 }] } },
    });
    try {
      const first = get(gw.url('/1'));
      await until(() => a.waiting() === 1, 'the first request');
      const t0 = performance.now();
      assert.equal((await get(gw.url('/2'))).status, 503);
      assert.ok(performance.now() - t0 >= 150);
      a.release();
      assert.equal((await first).status, 200);
    } finally {
      a.release();
      await gw.close();
      await a.origin.close();
    }
  });
});

describe('servers: leastconn with real origins', () => {
  it('sends most requests to the idle server when the other answers slowly', async () => {
    const slow = await startOrigin('slow', (req, res) => {
      req.resume();
      setTimeout(() => res.end('slow'), 150);
    });
    const fast = await startOrigin('fast');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: {
        app: {
          balance: 'leastconn',
          servers: [
            { name: 'slow', address: slow.address },
            { name: 'fast', address: fast.address },
          ],
        },
      },
    });
    try {
      const seen: Record<string, number> = {};
      const client = async () => {
        for (let i = 0; i < 15; i++) {
          const body = (await get(gw.url())).body;
          seen[body] = (seen[body] ?? 0) + 1;
        }
      };
      await Promise.all([client(), client(), client(), client()]);
      assert.equal((seen.slow ?? 0) + (seen.fast ?? 0), 60);
      // Round robin would give the slow server 30; it holds at most a few at a time here.
      assert.ok((seen.slow ?? 0) <= 12, JSON.stringify(seen));
    } finally {
      await gw.close();
      await Promise.all([slow.close(), fast.close()]);
    }
  });
});

describe('servers: states', () => {
  async function setup(servers: object[], extra: object = {}) {
    const origins = await Promise.all(['a', 'b', 'spare'].map((n) => startOrigin(n)));
    const address = Object.fromEntries(origins.map((o, i) => [['a', 'b', 'spare'][i], o.address]));
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', ...extra } },
      backends: { app: { servers: servers.map((s) => ({ ...s, address: address[(s as { name: string }).name] })) } },
    });
    const backend = gw.gateway.generation.backends.get('app')! as Backend;
    const server = (n: string) => backend.servers.find((s) => s.name === n)! as UpstreamServer;
    const spread = async (n: number) => {
      const seen: Record<string, number> = {};
      for (let i = 0; i < n; i++) {
        const body = (await get(gw.url())).body;
        seen[body] = (seen[body] ?? 0) + 1;
      }
      return seen;
    };
    return { gw, backend, server, spread, close: async () => (await gw.close(), await Promise.all(origins.map((o) => o.close()))) };
  }

  it('hands traffic to backup servers only while every other server is down, and back', async () => {
    const t = await setup([{ name: 'a' }, { name: 'b' }, { name: 'spare', backup: true }]);
    try {
      assert.deepEqual(await t.spread(4), { a: 2, b: 2 });
      t.backend.setServerState(t.server('a'), { up: false });
      assert.deepEqual(await t.spread(4), { b: 4 });
      t.backend.setServerState(t.server('b'), { up: false });
      assert.deepEqual(await t.spread(4), { spare: 4 });
      t.backend.setServerState(t.server('a'), { up: true });
      assert.deepEqual(await t.spread(4), { a: 4 });
    } finally {
      await t.close();
    }
  });

  it('sends no new request to a server in drain or maintenance', async () => {
    const t = await setup([{ name: 'a' }, { name: 'b' }]);
    try {
      t.backend.setServerState(t.server('a'), { state: 'drain' });
      assert.deepEqual(await t.spread(4), { b: 4 });
      t.backend.setServerState(t.server('a'), { state: 'maint' });
      assert.deepEqual(await t.spread(2), { b: 2 });
      t.backend.setServerState(t.server('a'), { state: 'ready' });
      assert.deepEqual(await t.spread(4), { a: 2, b: 2 });
    } finally {
      await t.close();
    }
  });

  it('ramps a returning server up over slowstart', async () => {
    const t = await setup([
      { name: 'a', weight: 100, slowstart: '400ms' },
      { name: 'b', weight: 100 },
    ]);
    try {
      const a = t.server('a');
      assert.equal(a.weight, 100, 'no ramp at start');
      t.backend.setServerState(a, { up: false });
      t.backend.setServerState(a, { up: true });
      assert.ok(a.weight < 20, `weight right after coming back: ${a.weight}`);
      const early = await t.spread(20);
      assert.ok((early.a ?? 0) < 10, JSON.stringify(early));
      await until(() => a.weight === 100, 'the end of the ramp');
    } finally {
      await t.close();
    }
  });

  it('keeps a client on its server with a sticky cookie, also while the server drains, and moves it when the server is down', async () => {
    const t = await setup([{ name: 'a' }, { name: 'b' }], { plugins: [{ use: 'sticky-cookie', options: { name: 'SRV' } }] });
    try {
      const first = await get(t.gw.url());
      const cookie = [first.headers['set-cookie']].flat()[0]!;
      assert.match(cookie, /^SRV=(a|b); Path=\/; HttpOnly/);
      const home = cookie.slice(4, 5);
      for (let i = 0; i < 5; i++) {
        const r = await get(t.gw.url(), { cookie: `SRV=${home}; other=1` });
        assert.equal(r.body, home);
        assert.equal(r.headers['set-cookie'], undefined, 'no new cookie while it holds');
      }
      t.backend.setServerState(t.server(home), { state: 'drain' });
      assert.equal((await get(t.gw.url(), { cookie: `SRV=${home}` })).body, home, 'drain keeps sticky clients');
      assert.notEqual((await get(t.gw.url())).body, home, 'drain takes no new clients');
      t.backend.setServerState(t.server(home), { up: false });
      const moved = await get(t.gw.url(), { cookie: `SRV=${home}` });
      assert.notEqual(moved.body, home);
      assert.match([moved.headers['set-cookie']].flat()[0]!, new RegExp(`^SRV=${moved.body};`));
    } finally {
      await t.close();
    }
  });
});
