// The kernel's runner for async hooks on a request's path: taps in tapable's order, in
// the calling turn until one returns a promise; bail semantics as tapable's; taps of
// every style (sync, promise, callback) contained as PluginErrors.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Stage } from '../../sdk/hooks.ts';
import { createHttpHooks } from '../../core/hooks.ts';
import { PluginError, copyTaps, isThenable, runner } from '../../core/taps.ts';
import type { HttpAnswer, UpstreamResponse } from '../../sdk/context.ts';
import type { HttpContext } from '../../core/http/context.ts';

type Ctx = HttpContext & { seen: string[] };
const ctx = () => ({ seen: [] as string[] }) as unknown as Ctx;
const answer = (status: number): HttpAnswer => ({ status });

/** Generation hooks with the taps `setup` makes on a plugin's own hooks, copied as the kernel copies them. */
function chain(...plugins: [string, (hooks: ReturnType<typeof createHttpHooks>) => void][]) {
  const to = createHttpHooks();
  const errors: unknown[] = [];
  const sources = plugins.map(([plugin, setup]) => {
    const hooks = createHttpHooks();
    setup(hooks);
    return { plugin, hooks };
  });
  copyTaps(sources, to, 'http', (e) => errors.push(e));
  return { hooks: to, errors };
}

describe('runner', () => {
  it('runs sync taps and promise taps that answer at once in the same turn, by stage, and bails with the first answer', () => {
    const { hooks } = chain(
      ['late', (h) => h.request.tap({ name: 'late', stage: Stage.CACHE }, (c) => void (c as Ctx).seen.push('late'))],
      ['eager', (h) => h.request.tapPromise({ name: 'eager', stage: Stage.AUTH }, (c) => void (c as Ctx).seen.push('eager'))],
      ['limit', (h) => h.request.tapPromise({ name: 'limit', stage: Stage.LIMIT }, (c) => ((c as Ctx).seen.push('limit'), answer(429)))],
    );
    const c = ctx();
    const result = runner<[HttpContext], HttpAnswer | void>(hooks.request, true)(c);
    assert.equal(isThenable(result), false, 'no promise when no tap returned one');
    assert.deepEqual(result, { status: 429 });
    assert.deepEqual(c.seen, ['eager', 'limit'], 'the CACHE tap never ran after the LIMIT answer');
  });

  it('goes asynchronous from the first tap that returns a promise, then runs the rest in order', async () => {
    const { hooks } = chain(
      ['a', (h) => h.request.tap('a', (c) => void (c as Ctx).seen.push('a'))],
      ['b', (h) => h.request.tapPromise('b', async (c) => void (c as Ctx).seen.push('b'))],
      ['c', (h) => h.request.tapAsync('c', (c, done) => ((c as Ctx).seen.push('c'), setImmediate(() => done(null, answer(200)))))],
      ['d', (h) => h.request.tap('d', (c) => void (c as Ctx).seen.push('d'))],
    );
    const c = ctx();
    const result = runner<[HttpContext], HttpAnswer | void>(hooks.request, true)(c);
    assert.ok(isThenable(result));
    assert.deepEqual(c.seen, ['a', 'b'], 'b ran in the calling turn; c waits for its promise');
    assert.deepEqual(await result, { status: 200 });
    assert.deepEqual(c.seen, ['a', 'b', 'c']);
  });

  it('runs every tap of a series hook whatever they return, passing both arguments', async () => {
    const { hooks } = chain(
      ['a', (h) => h.upstreamResponse.tap('a', (c, res) => void (c as Ctx).seen.push(`a${res.status}`))],
      ['b', (h) => h.upstreamResponse.tapPromise('b', (c, res) => Promise.resolve(void (c as Ctx).seen.push(`b${res.status}`)))],
      ['c', (h) => h.upstreamResponse.tapPromise('c', (c, res) => void (c as Ctx).seen.push(`c${res.status}`))],
    );
    const c = ctx();
    const res = { status: 201 } as UpstreamResponse;
    const done = runner<[HttpContext, UpstreamResponse], void>(hooks.upstreamResponse, false)(c, res);
    assert.equal(await done, undefined);
    assert.deepEqual(c.seen, ['a201', 'b201', 'c201']);
  });

  it('contains failures: a sync throw is a PluginError at once, a rejection a rejected PluginError', async () => {
    const thrower = chain(['bad', (h) => h.request.tapPromise('bad', () => { throw new Error('boom'); })]).hooks;
    assert.throws(() => runner(thrower.request, true)(ctx()), (e: unknown) => e instanceof PluginError && e.plugin === 'bad' && e.hook === 'http.request');
    const rejecter = chain(['worse', (h) => h.request.tapPromise('worse', async () => { throw new Error('late boom'); })]).hooks;
    await assert.rejects(Promise.resolve(runner(rejecter.request, true)(ctx())), (e: unknown) => e instanceof PluginError && e.plugin === 'worse');
  });

  it("keeps tapable's own promise() working on the same taps, and sees taps added later", async () => {
    const { hooks } = chain(['eager', (h) => h.request.tapPromise('eager', () => answer(204))]);
    assert.deepEqual(await hooks.request.promise(ctx()), { status: 204 });
    const run = runner<[HttpContext], HttpAnswer | void>(hooks.request, true);
    assert.equal(runner(hooks.request, true), run, 'built once per hook and set of taps');
    hooks.request.tap({ name: 'first', stage: Stage.FIRST }, () => answer(418));
    assert.deepEqual(runner<[HttpContext], HttpAnswer | void>(hooks.request, true)(ctx()), { status: 418 });
  });
});
