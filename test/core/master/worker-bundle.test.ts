// The prebundled worker (core/master/worker-bundle.ts): builds of other sources pile up in
// .tapgate/worker/ as an installation changes; those no master touched for a week go.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorker, staleBundleMs, touchBundle } from '../../../core/master/worker-bundle.ts';
import { root } from '../../helpers/gateway.ts';

describe('worker bundle', () => {
  it('removes files of builds untouched for a week, and keeps younger ones and its own', async () => {
    const dir = join(root, '.tapgate', 'worker');
    const first = await bundleWorker('./entry/worker.ts');
    const stale = join(dir, `chunk-STALE${process.pid}.mjs`);
    const young = join(dir, `chunk-YOUNG${process.pid}.mjs`);
    writeFileSync(stale, '// an old build\n');
    writeFileSync(young, '// a build a day old\n');
    const old = new Date(Date.now() - staleBundleMs - 3600_000);
    utimesSync(stale, old, old);
    const day = new Date(Date.now() - 24 * 3600_000);
    utimesSync(young, day, day);
    // Our own files, however old, are the build's: kept.
    for (const f of first.files) utimesSync(f, old, old);

    const again = await bundleWorker('./entry/worker.ts');
    try {
      assert.equal(existsSync(stale), false);
      assert.equal(existsSync(young), true);
      assert.deepEqual(again.files, first.files);
      for (const f of again.files) assert.ok(existsSync(f), f);
    } finally {
      rmSync(young, { force: true });
    }
  });

  it('touchBundle marks every file of a bundle as used now', async () => {
    const bundle = await bundleWorker('./entry/worker.ts');
    const old = new Date(Date.now() - staleBundleMs - 3600_000);
    for (const f of bundle.files) utimesSync(f, old, old);
    touchBundle(bundle);
    for (const f of bundle.files) assert.ok(Date.now() - statSync(f).mtimeMs < 60_000, f);
  });
});
