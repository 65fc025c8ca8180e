// What a worker is started with besides its entry: NODE_OPTIONS carrying the master's own
// and a cap on V8's young generation, and at most two malloc arenas (see workerNodeOptions
// and workerMalloc in core/master/master.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { workerMalloc, workerNodeOptions } from '../../../core/master/master.ts';
import { freePort } from '../../helpers/gateway.ts';
import { startMaster } from '../../helpers/master.ts';

describe('workerNodeOptions', () => {
  it("caps the worker's semi-space at 4 MB, after the master's own NODE_OPTIONS", () => {
    assert.equal(workerNodeOptions(undefined, []), '--max-semi-space-size=4');
    assert.equal(workerNodeOptions('', []), '--max-semi-space-size=4');
    assert.equal(workerNodeOptions('--enable-source-maps', ['--import', 'tsx']), '--enable-source-maps --max-semi-space-size=4');
  });

  it('leaves a semi-space size the user chose, in NODE_OPTIONS or on the command line', () => {
    assert.equal(workerNodeOptions('--max-semi-space-size=16', []), '--max-semi-space-size=16');
    assert.equal(workerNodeOptions('--max_semi_space_size=8 --trace-gc', []), '--max_semi_space_size=8 --trace-gc');
    assert.equal(workerNodeOptions(undefined, ['--max-semi-space-size=32']), '');
  });
});

describe('workerMalloc', () => {
  it('gives a worker two malloc arenas unless the user chose a number', () => {
    assert.deepEqual(workerMalloc({}), { MALLOC_ARENA_MAX: '2' });
    assert.deepEqual(workerMalloc({ MALLOC_ARENA_MAX: '8' }), {});
  });

  it('is what a real worker runs with', async () => {
    const master = await startMaster(`
workers: 1
log: { level: warn, access: false }
frontends:
  web: { bind: 127.0.0.1:${await freePort()}, default_backend: app }
backends:
  app: { servers: [ { name: s, address: 127.0.0.1:${await freePort()} } ] }
`);
    try {
      const [worker] = (await master.status()).workers;
      const env = Object.fromEntries(
        readFileSync(`/proc/${worker!.pid}/environ`, 'utf8')
          .split('\0')
          .filter(Boolean)
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
      assert.equal(env.MALLOC_ARENA_MAX, process.env.MALLOC_ARENA_MAX ?? '2');
      assert.match(env.NODE_OPTIONS ?? '', /--max[-_]semi[-_]space[-_]size/);
    } finally {
      await master.stop();
    }
  });
});
