import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import { deadPort, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { spawnMaster, startMaster } from '../../helpers/master.ts';
import { accepts, load, until, type Load } from '../../helpers/load.ts';

const plugin = (tag: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'tag', version: '1.0.0', setup(api) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => { res.headers['x-tag'] = '${tag}'; });
  }});`;

function config(port: number, origins: TestOrigin[], i: number, extra = ''): string {
  // Servers come and go, weights change, and the plugin's source changes with every reload.
  const servers = origins
    .filter((_, k) => k === 0 || (i + k) % 3 !== 0)
    .map((o, k) => `      - { name: s${k}, address: ${o.address}, weight: ${1 + ((i + k) % 4)} }`)
    .join('\n');
  return `
workers: 2
hard_stop_after: 5s
log: { level: warn, access: false }
frontends:
  web:
    bind: 127.0.0.1:${port}
    default_backend: app
    plugins: [ { use: ./tag.ts } ]
backends:
  app:
    servers:
${servers}
${extra}`;
}

describe('master and workers: reload', () => {
  let origins: TestOrigin[];
  before(async () => {
    origins = await Promise.all([startOrigin('a'), startOrigin('b'), startOrigin('c')]);
  });
  after(async () => {
    await Promise.all(origins.map((o) => o.close()));
  });

  it('reloads 50 times under new-connection and keep-alive load with zero failed requests', async (t) => {
    const port = await deadPort();
    const master = await startMaster(config(port, origins, 0), { 'tag.ts': plugin('v0') });
    const traffic = load(port, 4, 4);
    try {
      let generation = 1;
      for (let i = 1; i <= 50; i++) {
        master.write(config(port, origins, i), { 'tag.ts': plugin(`v${i}`) });
        const reply = await master.reload();
        assert.equal(reply.ok, true, JSON.stringify(reply.problems));
        assert.equal(reply.generation, ++generation);
      }
      // The last plugin source is the one serving.
      const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, r));
      res.resume();
      assert.equal(res.headers['x-tag'], 'v50');
    } finally {
      await traffic.stop();
      await master.stop();
    }
    assert.deepEqual(traffic.failures.slice(0, 10), [], `${traffic.failures.length} failed of ${traffic.ok + traffic.failures.length}`);
    assert.ok(traffic.ok > 500, `only ${traffic.ok} requests made it`);
    t.diagnostic(`50 reloads, ${traffic.ok} requests, ${traffic.failures.length} failed`);
  });

  it('refuses a broken config: the reload fails with the errors and the old generation keeps serving', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origins, 0), { 'tag.ts': plugin('good') });
    const traffic = load(port, 2, 2);
    try {
      master.write(config(port, origins, 1).replace('default_backend: app', 'default_backend: nowhere'), { 'tag.ts': plugin('bad') });
      const refused = await master.reload();
      assert.equal(refused.ok, false);
      assert.ok(refused.problems!.some((p) => p.path === 'frontends.web.default_backend' && /does not exist/.test(p.message)));
      master.write(config(port, origins, 2), { 'tag.ts': 'export default definePlugin(' });
      const uncompilable = await master.reload();
      assert.equal(uncompilable.ok, false);
      assert.match(JSON.stringify(uncompilable.problems), /tag\.ts/);
      const status = await master.status();
      assert.equal(status.generation, 1);
      const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, r));
      res.resume();
      assert.equal(res.headers['x-tag'], 'good');
      master.write(config(port, origins, 3), { 'tag.ts': plugin('fixed') });
      assert.equal((await master.reload()).ok, true);
    } finally {
      await traffic.stop();
      await master.stop();
    }
    assert.deepEqual(traffic.failures, []);
  });

  it('prints a plan without applying it', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origins, 0), { 'tag.ts': plugin('p') });
    try {
      master.write(config(port, origins, 1), { 'tag.ts': plugin('q') });
      const plan = await master.reload(true);
      assert.equal(plan.ok, true);
      assert.ok(
        plan.plan!.some((l) => /^~ backend app: server s\d weight \d -> \d$/.test(l)),
        plan.plan!.join('\n'),
      );
      assert.ok(plan.plan!.includes('~ frontend web: plugin ./tag.ts source changed'), plan.plan!.join('\n'));
      assert.equal((await master.status()).generation, 1);
    } finally {
      await master.stop();
    }
  });

  it('adds and removes listeners on reload, and refuses a port that cannot be bound', async () => {
    const port = await deadPort();
    const second = await deadPort();
    const master = await startMaster(config(port, origins, 0), { 'tag.ts': plugin('p') });
    const squatter = http.createServer().listen(0, '127.0.0.1');
    await once(squatter, 'listening');
    try {
      const addSecond = (p: number) => config(port, origins, 0).replace('backends:', `  api:\n    bind: 127.0.0.1:${p}\n    default_backend: app\nbackends:`);
      master.write(addSecond(second));
      assert.equal((await master.reload()).ok, true);
      const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port: second, path: '/', agent: false }, r));
      res.resume();
      assert.equal(res.statusCode, 200);
      const taken = (squatter.address() as { port: number }).port;
      master.write(addSecond(taken));
      const refused = await master.reload();
      assert.equal(refused.ok, false);
      assert.match(JSON.stringify(refused.problems), /address in use/);
    } finally {
      squatter.close();
      await master.stop();
    }
  });
});

/** The `x-tag` of the plugin version serving a new connection. */
function tagOf(port: number): Promise<string | undefined> {
  return new Promise((resolve, reject) =>
    http
      .get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        res.resume();
        resolve(res.headers['x-tag'] as string | undefined);
      })
      .on('error', reject),
  );
}

describe('master and workers: reloads asked faster than they complete', () => {
  let origins: TestOrigin[];
  before(async () => {
    origins = await Promise.all([startOrigin('a'), startOrigin('b'), startOrigin('c')]);
  });
  after(async () => {
    await Promise.all(origins.map((o) => o.close()));
  });

  it(
    'survives SIGHUPs from the moment its port accepts, faster than reloads complete: a few reloads, the last config serving, no request failed',
    { timeout: 180_000 },
    async (t) => {
      const port = await deadPort();
      const master = spawnMaster(config(port, origins, 0), { 'tag.ts': plugin('v0') });
      const signals = 30;
      let traffic: Load | undefined;
      try {
        // The port accepts once the first worker listens, before the master has finished starting.
        await until(() => accepts(port), 60_000, 'the port to accept');
        traffic = load(port, 2, 2, { ms: 120_000 });
        for (let i = 1; i <= signals; i++) {
          master.write(config(port, origins, i), { 'tag.ts': plugin(`v${i}`) });
          master.child.kill('SIGHUP');
          assert.equal(master.child.signalCode, null, `the master died by a signal before signal ${i}:\n${master.log.slice(-20).join('\n')}`);
          // The burst's pace: faster than any reload (even one in place) completes.
          await new Promise((r) => setTimeout(r, 20));
        }
        await master.serving();
        // The last signal is covered once its config serves alone.
        await until(
          async () => (await tagOf(port)) === `v${signals}` && (await master.status()).workers.every((w) => w.state === 'ready'),
          60_000,
          `v${signals} serving alone`,
        );
        const reloads = (await master.status()).generation - 1;
        t.diagnostic(`${signals} SIGHUPs made ${reloads} reloads`);
        assert.ok(reloads >= 1 && reloads <= signals / 2, `${reloads} reloads for ${signals} signals: coalesced, not queued`);
      } finally {
        await traffic?.stop();
        await master.stop();
      }
      assert.equal(master.child.signalCode, null);
      assert.deepEqual(traffic!.failures.slice(0, 10), [], `${traffic!.failures.length} failed of ${traffic!.ok + traffic!.failures.length}`);
      t.diagnostic(`${traffic!.ok} requests, none failed`);
    },
  );

  it('gives the reloads asked on the control socket and the runtime API while one runs one next reload together', { timeout: 180_000 }, async () => {
    const port = await deadPort();
    const stats = await deadPort();
    // Workers take a while to set this plugin up: the first reload is surely still running when the others are asked.
    const slow = `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'tag', version: '1.0.0', async setup(api) {
    await new Promise((r) => setTimeout(r, 800));
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => { res.headers['x-tag'] = 'slow'; });
  }});`;
    const master = await startMaster(config(port, origins, 0, `stats: { bind: 127.0.0.1:${stats} }`), { 'tag.ts': slow });
    const apiReload = async () => {
      const res = await fetch(`http://127.0.0.1:${stats}/api/reload`, { method: 'POST' });
      return { status: res.status, ...((await res.json()) as { ok: boolean; generation?: number }) };
    };
    try {
      // A new log level: the first reload starts new workers, which the test sees starting.
      master.write(config(port, origins, 0, `stats: { bind: 127.0.0.1:${stats} }`).replace('level: warn', 'level: error'));
      const first = master.reload();
      await until(async () => (await master.status()).workers.some((w) => w.state === 'starting'), 30_000, 'the first reload to start its workers');
      const asked = [master.reload(), apiReload(), master.reload(), apiReload()];
      const covering = await Promise.all(asked);
      assert.equal((await first).generation, 2);
      for (const r of covering) assert.equal(r.generation, 3, JSON.stringify(covering));
      assert.ok(covering.every((r) => r.ok));
      assert.equal((await master.status()).generation, 3);
    } finally {
      await master.stop();
    }
  });
});

describe('master and workers: draining and stopping', () => {
  let slow: TestOrigin;
  let release: () => void = () => undefined;
  before(async () => {
    slow = await startOrigin('slow', (req, res) => {
      // Answers /slow only when released; echoes the size of uploads.
      let size = 0;
      req.on('data', (d: Buffer) => (size += d.length));
      req.on('end', () => {
        if (req.url === '/slow') {
          const previous = release;
          release = () => {
            previous();
            res.end('slow done');
          };
        } else res.end(`got ${size}`);
      });
    });
  });
  after(() => slow.close());

  // A reload that changes the log level starts new worker processes (each opens its log at start): these tests are about the old ones draining.
  const cfg = (port: number, hard = '30s', level = 'warn') => `
workers: 1
hard_stop_after: ${hard}
log: { level: ${level}, access: false }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app, timeouts: { client: 30s, keepalive: 60s } }
backends:
  app: { servers: [ { name: s, address: ${slow.address} } ], timeouts: { server: 30s } }
`;

  it('lets an in-flight slow request and a streaming upload finish across a graceful reload', async () => {
    const port = await deadPort();
    const master = await startMaster(cfg(port));
    try {
      const slowAnswer = new Promise<string>((resolve, reject) =>
        http
          .get({ host: '127.0.0.1', port, path: '/slow', agent: false }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve(body));
          })
          .on('error', reject),
      );
      const upload = http.request({ host: '127.0.0.1', port, path: '/up', method: 'POST', agent: false, headers: { 'transfer-encoding': 'chunked' } });
      const uploadAnswer = new Promise<string>((resolve, reject) => {
        upload.on('response', (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        });
        upload.on('error', reject);
      });
      upload.write(Buffer.alloc(100_000, 1));
      while (slow.requests.filter((r) => r.url === '/slow').length === 0) await new Promise((r) => setTimeout(r, 20));

      master.write(cfg(port, '30s', 'error'));
      const reply = await master.reload();
      assert.equal(reply.ok, true);
      assert.equal(reply.draining, 1);
      // The old worker is still there, finishing.
      assert.ok((await master.status()).workers.some((w) => w.state === 'draining'));
      upload.end(Buffer.alloc(100_000, 2));
      release();
      assert.equal(await slowAnswer, 'slow done');
      assert.equal(await uploadAnswer, 'got 200000');
    } finally {
      await master.stop();
    }
  });

  it('closes idle keep-alive connections of the old generation, which then leaves', async () => {
    const port = await deadPort();
    const master = await startMaster(cfg(port));
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port, path: '/x', agent }, r));
      const socket = res.socket;
      const closed = once(socket, 'close');
      res.resume();
      await once(res, 'end');
      master.write(cfg(port, '30s', 'error'));
      assert.equal((await master.reload()).ok, true);
      const t0 = performance.now();
      await closed;
      assert.ok(performance.now() - t0 < 4000, 'closed well before the keep-alive timeout matters');
      for (let i = 0; i < 200 && (await master.status()).workers.some((w) => w.state === 'draining'); i++) await new Promise((r) => setTimeout(r, 25));
      assert.deepEqual(
        (await master.status()).workers.map((w) => w.state),
        ['ready'],
      );
      agent.destroy();
    } finally {
      await master.stop();
    }
  });

  it('cuts what is still running at hard_stop_after, and everything at stop --hard', async () => {
    const port = await deadPort();
    const master = await startMaster(cfg(port, '300ms'));
    try {
      const cut = (path: string) =>
        new Promise<string>((resolve) => {
          http
            .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
              res.resume();
              res.on('end', () => resolve(`status ${res.statusCode}`));
            })
            .on('error', (e) => resolve((e as NodeJS.ErrnoException).code ?? e.message));
        });
      const seen = slow.requests.length;
      const first = cut('/slow');
      while (slow.requests.length === seen) await new Promise((r) => setTimeout(r, 20));
      const t0 = performance.now();
      master.write(cfg(port, '300ms', 'error'));
      assert.equal((await master.reload()).ok, true);
      assert.equal(await first, 'ECONNRESET');
      assert.ok(performance.now() - t0 < 5000);

      const second = cut('/slow');
      while (slow.requests.length === seen + 1) await new Promise((r) => setTimeout(r, 20));
      assert.equal(await master.stop(true), 0);
      assert.equal(await second, 'ECONNRESET');
    } finally {
      release();
      await master.stop();
    }
  });

  it(
    'stops while a reload is starting its workers: they drain once ready, and the master exits well before hard_stop_after',
    { timeout: 120_000 },
    async () => {
      const port = await deadPort();
      const master = await startMaster(cfg(port));
      master.write(cfg(port, '30s', 'error'));
      const asked = [master.reload(), master.reload()].map((r) => r.catch((e: Error) => ({ ok: false, error: e.message })));
      await until(async () => (await master.status()).workers.some((w) => w.state === 'starting'), 30_000, 'the reload to start its workers');
      const t0 = performance.now();
      assert.equal(await master.stop(), 0);
      const ms = performance.now() - t0;
      assert.ok(ms < 15_000, `stopped in ${Math.round(ms)} ms (hard_stop_after is 30 s)`);
      for (const r of await Promise.all(asked)) assert.equal(r.ok, false);
    },
  );

  it('replaces a worker that dies', async () => {
    const port = await deadPort();
    const master = await startMaster(cfg(port));
    try {
      const [victim] = (await master.status()).workers;
      process.kill(victim!.pid, 'SIGKILL');
      let replaced = false;
      for (let i = 0; i < 200 && !replaced; i++) {
        await new Promise((r) => setTimeout(r, 50));
        const workers = (await master.status()).workers;
        replaced = workers.length === 1 && workers[0]!.pid !== victim!.pid && workers[0]!.state === 'ready';
      }
      assert.ok(replaced, 'a new worker took over');
      assert.ok(master.log.some((l) => l.includes('worker died unexpectedly')));
      const res = await new Promise<http.IncomingMessage>((r) => http.get({ host: '127.0.0.1', port, path: '/x', agent: false }, r));
      res.resume();
      assert.equal(res.statusCode, 200);
    } finally {
      await master.stop();
    }
  });
});
