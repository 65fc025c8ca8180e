// Reloads in place: the serving workers build and serve the next generation themselves
// (prepare, then commit), without new processes, unless the reload cannot be done so.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deadPort, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../../helpers/master.ts';
import { load, until } from '../../helpers/load.ts';

// Tags responses, says which worker answered, and fails its setup in a worker whose pid has a `fail-<pid>` file beside
// it, or never ends it with a `hang-<pid>` file.
const plugin = (tag: string) => `
  import { definePlugin } from 'tapgate/sdk';
  import { existsSync } from 'node:fs';
  import { join } from 'node:path';
  export default definePlugin({ name: 'tag', version: '1.0.0', async setup(api) {
    if (existsSync(join(import.meta.dirname, 'fail-' + process.pid))) throw new Error('told to fail in ' + process.pid);
    if (existsSync(join(import.meta.dirname, 'hang-' + process.pid))) await new Promise(() => {});
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => {
      res.headers['x-tag'] = '${tag}';
      res.headers['x-pid'] = String(process.pid);
    });
  }});`;

const config = (port: number, origin: TestOrigin, workers = 2, weight = 1, more = '') => `
${more}
workers: ${workers}
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
      - { name: s, address: ${origin.address}, weight: ${weight} }
`;

/** Tags and worker pids of `n` requests, each on a connection of its own. */
async function answers(port: number, n = 40): Promise<{ tags: Set<string>; pids: Set<string> }> {
  const tags = new Set<string>();
  const pids = new Set<string>();
  for (let i = 0; i < n; i++) {
    const res = await new Promise<http.IncomingMessage>((r, reject) => http.get({ host: '127.0.0.1', port, path: '/', agent: false }, r).on('error', reject));
    res.resume();
    assert.equal(res.statusCode, 200);
    tags.add(String(res.headers['x-tag']));
    pids.add(String(res.headers['x-pid']));
  }
  return { tags, pids };
}

const pidsOf = async (master: TestMaster) => (await master.status()).workers.map((w) => w.pid).sort();

/** A refused reload changed nothing: generation 1 in the same workers (`before`), answering as before. The pids that answered. */
async function servingFirst(master: TestMaster, port: number, before: number[]): Promise<number[]> {
  const status = await master.status();
  assert.equal(status.generation, 1);
  assert.deepEqual(status.workers.map((w) => w.pid).sort(), before);
  assert.ok(status.workers.every((w) => w.generation === 1 && w.state === 'ready'));
  const { tags, pids } = await answers(port, 60);
  assert.deepEqual([...tags], ['old']);
  return [...pids].map(Number);
}

describe('master and workers: reloads in place', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin('a');
  });
  after(() => origin.close());

  it('keeps the same worker processes and serves the new config; a worker that dies then is replaced on the new generation', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origin), { 'tag.ts': plugin('v1') });
    try {
      const before = await pidsOf(master);
      master.write(config(port, origin, 2, 3), { 'tag.ts': plugin('v2') });
      const plan = await master.reload(true);
      assert.deepEqual(plan.workers, { inPlace: true });
      const reply = await master.reload();
      assert.equal(reply.ok, true, JSON.stringify(reply.problems));
      assert.deepEqual(reply.workers, { inPlace: true });
      assert.equal(reply.draining, 0);
      assert.deepEqual(await pidsOf(master), before);
      const status = await master.status();
      assert.equal(status.generation, 2);
      assert.deepEqual(
        status.workers.map((w) => [w.generation, w.state]),
        [
          [2, 'ready'],
          [2, 'ready'],
        ],
      );
      assert.deepEqual([...(await answers(port)).tags], ['v2']);

      // Its replacement loads what the master compiled for generation 2.
      process.kill(before[0]!, 'SIGKILL');
      await until(
        async () => {
          const workers = (await master.status()).workers;
          return workers.length === 2 && !workers.some((w) => w.pid === before[0]) && workers.every((w) => w.state === 'ready' && w.generation === 2);
        },
        30_000,
        'a replacement on generation 2',
      );
      assert.deepEqual([...(await answers(port)).tags], ['v2']);
    } finally {
      await master.stop();
    }
  });

  it('a reload that fails to prepare in one worker leaves every worker serving the old generation', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origin), { 'tag.ts': plugin('old') });
    try {
      const before = await pidsOf(master);
      writeFileSync(join(master.dir, `fail-${before[1]}`), '');
      master.write(config(port, origin, 2, 2), { 'tag.ts': plugin('new') });
      const reply = await master.reload();
      assert.equal(reply.ok, false);
      assert.ok(
        reply.problems!.some((p) => /told to fail/.test(p.message)),
        JSON.stringify(reply.problems),
      );
      const pids = await servingFirst(master, port, before);
      assert.ok(pids.every((p) => before.includes(p)));
    } finally {
      await master.stop();
    }
  });

  it('a reload whose setup never ends in one worker is refused after prepare_timeout; every worker goes on with the old generation', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origin), { 'tag.ts': plugin('old') });
    try {
      const before = await pidsOf(master);
      writeFileSync(join(master.dir, `hang-${before[1]}`), '');
      master.write(config(port, origin, 2, 2, 'prepare_timeout: 1s'), { 'tag.ts': plugin('new') });
      const asked = Date.now();
      const reply = await master.reload();
      assert.equal(reply.ok, false);
      assert.ok(Date.now() - asked < 10_000, `refused after ${Date.now() - asked} ms`);
      assert.ok(
        reply.problems!.some((p) => p.message.includes(`worker ${before[1]} did not prepare generation 2 within prepare_timeout (1000 ms)`)),
        JSON.stringify(reply.problems),
      );
      assert.ok(
        master.log.some((line) => line.includes('did not prepare the new generation in time')),
        master.log.join('\n'),
      );
      const pids = await servingFirst(master, port, before);
      assert.deepEqual(pids.sort(), before, 'both workers, the one still preparing too, serve');

      // Once the setup would end, the next reload takes the new generation in place, in the same processes.
      rmSync(join(master.dir, `hang-${before[1]}`));
      const again = await master.reload();
      assert.equal(again.ok, true, JSON.stringify(again.problems));
      assert.deepEqual(again.workers, { inPlace: true });
      assert.deepEqual(await pidsOf(master), before);
      assert.deepEqual([...(await answers(port)).tags], ['new']);
    } finally {
      await master.stop();
    }
  });

  it('a reload that changes the worker count starts new processes', async () => {
    const port = await deadPort();
    const master = await startMaster(config(port, origin), { 'tag.ts': plugin('two') });
    try {
      const before = await pidsOf(master);
      master.write(config(port, origin, 1), { 'tag.ts': plugin('one') });
      assert.deepEqual((await master.reload(true)).workers, { inPlace: false, why: 'the worker count changed' });
      const reply = await master.reload();
      assert.equal(reply.ok, true);
      assert.equal(reply.draining, 2);
      assert.equal(reply.workers?.inPlace, false);
      const after = (await master.status()).workers.filter((w) => w.state === 'ready');
      assert.equal(after.length, 1);
      assert.ok(!before.includes(after[0]!.pid));
      assert.deepEqual([...(await answers(port, 5)).tags], ['one']);
    } finally {
      await master.stop();
    }
  });

  it('reloads in place 20 times under load with zero failed requests, in the same processes', async (t) => {
    const port = await deadPort();
    const master = await startMaster(config(port, origin), { 'tag.ts': plugin('v') });
    const traffic = load(port, 4, 4);
    try {
      const before = await pidsOf(master);
      for (let i = 1; i <= 20; i++) {
        master.write(config(port, origin, 2, 1 + (i % 4)));
        const reply = await master.reload();
        assert.equal(reply.ok, true, JSON.stringify(reply.problems));
        assert.deepEqual(reply.workers, { inPlace: true });
      }
      assert.deepEqual(await pidsOf(master), before);
    } finally {
      await traffic.stop();
      await master.stop();
    }
    assert.deepEqual(traffic.failures.slice(0, 10), [], `${traffic.failures.length} failed of ${traffic.ok + traffic.failures.length}`);
    assert.ok(traffic.ok > 200, `only ${traffic.ok} requests made it`);
    t.diagnostic(`20 reloads in place, ${traffic.ok} requests, ${traffic.failures.length} failed`);
  });
});
