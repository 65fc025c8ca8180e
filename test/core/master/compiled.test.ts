// Workers load the plugins their master compiled when it checked their generation
// (core/compile.ts, TAPGATE_COMPILED) and read the config text it checked (a copy,
// TAPGATE_CHECKED): they start without esbuild, and a worker that replaces one that died
// serves the code and config its generation was checked with, not files edited since. A
// reload checks and compiles the edit.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deadPort, get, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../../helpers/master.ts';
import { until } from '../../helpers/load.ts';

const plugin = (answer: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'stamp', version: '1.0.0', setup(api) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => { res.headers['x-stamp'] = '${answer}'; });
  }});`;

/** The ready workers, once there are `n`, none of them in `gone`. */
const readyWorkers = (master: TestMaster, n: number, gone: number[] = []) =>
  until(
    async () => {
      const workers = (await master.status()).workers.filter((w) => w.state === 'ready');
      return workers.length === n && !workers.some((w) => gone.includes(w.pid)) && workers;
    },
    30_000,
    `${n} workers ready`,
  );

// Routes to `origin`; the plugin's path is relative to the config file; `padding` bytes of comments make it big.
const routed = (port: number, origin: TestOrigin, workers: number, padding = 0) => `
workers: ${workers}
log: { level: warn, access: false }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app, plugins: [ { use: ./stamp.ts } ] }
backends:
  app: { servers: [ { name: a, address: ${origin.address} } ] }
${'# a long comment, so that the text is bigger than an environment variable can hold\n'.repeat(Math.ceil(padding / 84))}`;

describe('master and workers: the plugin code a generation was checked with', () => {
  let origin: TestOrigin;
  let other: TestOrigin;
  before(async () => {
    origin = await startOrigin('a');
    other = await startOrigin('b');
  });
  after(() => Promise.all([origin.close(), other.close()]));

  it('a replacement worker serves the config text its generation was checked with: not a file edited or broken since', { timeout: 120_000 }, async () => {
    const port = await deadPort();
    const master = await startMaster(routed(port, origin, 2), { 'stamp.ts': plugin('checked') });
    try {
      const origins = async () => new Set(await Promise.all(Array.from({ length: 12 }, async () => (await get(`http://127.0.0.1:${port}/`)).body)));
      const gone: number[] = [];
      const replaceOne = async () => {
        const [victim] = await readyWorkers(master, 2, gone);
        gone.push(victim!.pid);
        process.kill(victim!.pid, 'SIGKILL');
        await readyWorkers(master, 2, gone);
      };
      assert.deepEqual(await origins(), new Set(['a']));

      // Edited without a reload: a replacement still serves generation 1.
      master.write(routed(port, other, 2));
      await replaceOne();
      assert.deepEqual(await origins(), new Set(['a']), 'a replacement serves the text its generation was checked with');
      // Broken: a replacement still starts (it does not read the file), and a reload is refused.
      master.write('frontends: [ broken');
      await replaceOne();
      assert.deepEqual(await origins(), new Set(['a']));
      assert.equal((await master.reload()).ok, false);
      assert.equal((await master.status()).generation, 1);

      // Reloaded (in place): generation 2's text, which its replacements read even once the file is broken again.
      master.write(routed(port, other, 2));
      const reply = await master.reload();
      assert.equal(reply.ok, true, JSON.stringify(reply.problems));
      assert.deepEqual(reply.workers, { inPlace: true });
      assert.deepEqual(await origins(), new Set(['b']));
      master.write('frontends: [ broken');
      await replaceOne();
      assert.deepEqual(await origins(), new Set(['b']));
      // Copies of texts no live generation has are removed: generation 2's alone is left.
      assert.equal(readdirSync(join(master.dir, '.tapgate', 'cache')).filter((f) => f.includes('-checked-')).length, 1);
    } finally {
      await master.stop(true);
    }
  });

  it('a config bigger than an environment variable can hold starts, reloads in place and is replaced', { timeout: 120_000 }, async () => {
    const port = await deadPort();
    const master = await startMaster(routed(port, origin, 1, 250_000), { 'stamp.ts': plugin('checked') });
    try {
      assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'a');
      master.write(routed(port, other, 1, 300_000));
      const reply = await master.reload();
      assert.equal(reply.ok, true, JSON.stringify(reply.problems));
      assert.deepEqual(reply.workers, { inPlace: true });
      assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'b');
      const [victim] = await readyWorkers(master, 1);
      process.kill(victim!.pid, 'SIGKILL');
      await readyWorkers(master, 1, [victim!.pid]);
      assert.equal((await get(`http://127.0.0.1:${port}/`)).body, 'b');
    } finally {
      await master.stop(true);
    }
  });

  it('a replacement worker loads what its master compiled, not the file edited since; a reload takes the edit', { timeout: 120_000 }, async () => {
    const port = await deadPort();
    const master = await startMaster(
      `
workers: 2
log: { level: warn, access: false }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app, plugins: [ { use: ./stamp.ts } ] }
backends:
  app: { servers: [ { name: a, address: ${origin.address} } ] }
`,
      { 'stamp.ts': plugin('checked') },
    );
    try {
      const ready = () =>
        until(
          async () => {
            const workers = (await master.status()).workers.filter((w) => w.state === 'ready');
            return workers.length === 2 && workers;
          },
          30_000,
          'two workers ready',
        );
      const stamps = async () =>
        new Set(await Promise.all(Array.from({ length: 12 }, async () => (await get(`http://127.0.0.1:${port}/`)).headers['x-stamp'])));
      const [victim] = await ready();
      assert.deepEqual(await stamps(), new Set(['checked']));

      writeFileSync(join(master.dir, 'stamp.ts'), plugin('edited'));
      process.kill(victim!.pid, 'SIGKILL');
      await until(
        async () => {
          const workers = (await master.status()).workers.filter((w) => w.state === 'ready');
          return workers.length === 2 && !workers.some((w) => w.pid === victim!.pid) && workers;
        },
        30_000,
        'a replacement ready',
      );
      assert.deepEqual(await stamps(), new Set(['checked']), 'the replacement serves the code its generation was checked with');

      assert.equal((await master.reload()).ok, true);
      assert.deepEqual(await stamps(), new Set(['edited']));
    } finally {
      await master.stop(true);
    }
  });
});
