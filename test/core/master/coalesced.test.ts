import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Coalesced } from '../../../core/master/coalesced.ts';

/** A job whose runs finish when the test says, numbered from 1. */
function jobs() {
  const finish: (() => void)[] = [];
  let runs = 0;
  const job = () => {
    const n = ++runs;
    return new Promise<number>((resolve) => finish.push(() => resolve(n)));
  };
  return { job, finish, runs: () => runs };
}

describe('Coalesced: one run at a time, one more for whatever was asked meanwhile', () => {
  it('runs at once when nothing runs', async () => {
    const j = jobs();
    const c = new Coalesced(j.job);
    const first = c.request();
    assert.equal(j.runs(), 1);
    j.finish[0]!();
    assert.equal(await first, 1);
  });

  it('gives every request made during a run the one run after it', async () => {
    const j = jobs();
    const c = new Coalesced(j.job);
    const first = c.request();
    const during = [c.request(), c.request(), c.request()];
    assert.equal(j.runs(), 1, 'the next run waits for the current one');
    j.finish[0]!();
    assert.equal(await first, 1);
    await new Promise((r) => setImmediate(r));
    assert.equal(j.runs(), 2);
    j.finish[1]!();
    assert.deepEqual(await Promise.all(during), [2, 2, 2]);
  });

  it('starts another run for a request made once the next run has started', async () => {
    const j = jobs();
    const c = new Coalesced(j.job);
    void c.request();
    const second = c.request();
    j.finish[0]!();
    await new Promise((r) => setImmediate(r));
    const third = c.request();
    assert.notEqual(third, second);
    j.finish[1]!();
    assert.equal(await second, 2);
    await new Promise((r) => setImmediate(r));
    j.finish[2]!();
    assert.equal(await third, 3);
  });

  it('runs the next one even when the current one failed', async () => {
    const c = new Coalesced(async () => 'ran');
    let fail!: (e: Error) => void;
    const held = c.hold(new Promise<void>((_, reject) => (fail = reject)));
    const after = c.request();
    fail(new Error('start failed'));
    await assert.rejects(held, /start failed/);
    assert.equal(await after, 'ran');
  });

  it('counts held work as a run: requests made meanwhile wait for it, then share one run', async () => {
    const j = jobs();
    const c = new Coalesced(j.job);
    let started!: () => void;
    void c.hold(new Promise<void>((resolve) => (started = resolve)));
    const asked = [c.request(), c.request()];
    assert.equal(j.runs(), 0);
    started();
    await new Promise((r) => setImmediate(r));
    assert.equal(j.runs(), 1);
    j.finish[0]!();
    assert.deepEqual(await Promise.all(asked), [1, 1]);
  });
});
