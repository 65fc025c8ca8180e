// What a worker is started with besides its entry: NODE_OPTIONS carrying the master's own
// and a cap on V8's young generation (see workerNodeOptions in core/master/master.ts).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { workerNodeOptions } from '../../../core/master/master.ts';

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
