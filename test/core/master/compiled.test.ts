// Workers load the plugins their master compiled when it checked their generation
// (core/compile.ts, TAPGATE_COMPILED): they start without esbuild, and a worker that
// replaces one that died serves the code its generation was checked with, not a file
// edited since. A reload checks and compiles the edit.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { deadPort, get, startOrigin, type TestOrigin } from '../../helpers/gateway.ts';
import { startMaster } from '../../helpers/master.ts';
import { until } from '../../helpers/load.ts';

const plugin = (answer: string) => `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'stamp', version: '1.0.0', setup(api) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (_ctx, res) => { res.headers['x-stamp'] = '${answer}'; });
  }});`;

describe('master and workers: the plugin code a generation was checked with', () => {
  let origin: TestOrigin;
  before(async () => void (origin = await startOrigin('a')));
  after(() => origin.close());

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
