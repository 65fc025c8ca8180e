// The kernel's one way to run a hook chain: taps in tapable's order; an async chain in the
// calling turn until a tap returns a promise; bail semantics as tapable's; taps of every
// style (sync, promise, callback) timed and contained as PluginErrors, or reported on an
// observe-only hook.
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
    const result = runner(hooks.request)(c);
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
    const result = runner(hooks.request)(c);
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
    const done = runner(hooks.upstreamResponse)(c, res);
    assert.equal(await done, undefined);
    assert.deepEqual(c.seen, ['a201', 'b201', 'c201']);
  });

  it('contains failures: a sync throw is a PluginError at once, a rejection a rejected PluginError', async () => {
    const thrower = chain([
      'bad',
      (h) =>
        h.request.tapPromise('bad', () => {
          throw new Error('boom');
        }),
    ]).hooks;
    assert.throws(
      () => runner(thrower.request)(ctx()),
      (e: unknown) => e instanceof PluginError && e.plugin === 'bad' && e.hook === 'http.request',
    );
    const rejecter = chain([
      'worse',
      (h) =>
        h.request.tapPromise('worse', async () => {
          throw new Error('late boom');
        }),
    ]).hooks;
    await assert.rejects(Promise.resolve(runner(rejecter.request)(ctx())), (e: unknown) => e instanceof PluginError && e.plugin === 'worse');
  });

  it('is built once per hook and set of taps, and sees taps added later', () => {
    const { hooks } = chain(['eager', (h) => h.request.tapPromise('eager', () => answer(204))]);
    const run = runner(hooks.request);
    assert.deepEqual(run(ctx()), { status: 204 });
    assert.equal(runner(hooks.request), run, 'the same function while the taps stay');
    hooks.request.tap({ name: 'first', stage: Stage.FIRST }, () => answer(418));
    assert.deepEqual(runner(hooks.request)(ctx()), { status: 418 });
  });

  it('contains a callback-style tap: its error, and its throw, are PluginErrors', async () => {
    const { hooks } = chain([
      'cb',
      (h) =>
        h.request.tapAsync('cb', (c, done) =>
          (c as Ctx).seen.length
            ? done(new Error('said no'))
            : (() => {
                throw new Error('threw');
              })(),
        ),
    ]);
    await assert.rejects(
      Promise.resolve(runner(hooks.request)(ctx())),
      (e: unknown) => e instanceof PluginError && e.plugin === 'cb' && (e.cause as Error).message === 'threw',
    );
    const c = ctx();
    c.seen.push('x');
    await assert.rejects(Promise.resolve(runner(hooks.request)(c)), (e: unknown) => e instanceof PluginError && (e.cause as Error).message === 'said no');
  });

  it('runs a sync bail hook to its first answer, a promise being an answer like any other', () => {
    const promised = Promise.resolve();
    const { hooks } = chain(
      ['none', (h) => h.pickServer.tap('none', (c) => void (c as Ctx).seen.push('none'))],
      ['odd', (h) => h.pickServer.tap('odd', (c) => ((c as Ctx).seen.push('odd'), promised as never))],
      ['never', (h) => h.pickServer.tap('never', (c) => void (c as Ctx).seen.push('never'))],
    );
    const c = ctx();
    assert.equal(runner(hooks.pickServer)(c, {} as never), promised);
    assert.deepEqual(c.seen, ['none', 'odd']);
  });

  it('fails a bail hook with the PluginError of a tap that throws; reports one on an observe-only hook and runs the rest', () => {
    const { hooks, errors } = chain(
      [
        'bad',
        (h) => {
          h.route.tap('bad', () => {
            throw new Error('no route for you');
          });
          h.responseSent.tap('bad', () => {
            throw new Error('observer broke');
          });
        },
      ],
      ['good', (h) => h.responseSent.tap('good', (c) => void (c as Ctx).seen.push('good'))],
    );
    assert.throws(
      () => runner(hooks.route)(ctx()),
      (e: unknown) => e instanceof PluginError && e.plugin === 'bad' && e.hook === 'http.route',
    );
    assert.equal(errors.length, 0, 'a bail hook leaves the reporting to its caller');
    const c = ctx();
    assert.equal(runner(hooks.responseSent)(c), undefined);
    assert.deepEqual(c.seen, ['good']);
    assert.equal(errors.length, 1);
    assert.deepEqual({ ...(errors[0] as object), error: undefined }, { plugin: 'bad', hook: 'http.responseSent', error: undefined });
  });

  it("times every tap into the request's timings.plugins and the plugin's meter", async () => {
    const calls: { plugin: string; hook: string; failed: boolean }[] = [];
    const to = createHttpHooks();
    const own = createHttpHooks();
    own.request.tapPromise('slow', () => new Promise((r) => setTimeout(r, 20)));
    own.responseSent.tap('slow', () => undefined);
    copyTaps(
      [{ plugin: 'slow', hooks: own }],
      to,
      'http',
      () => undefined,
      (plugin, hook) => ({
        record: (_ms, failed) => void calls.push({ plugin, hook, failed }),
        slowAfter: 0,
        slow: () => undefined,
        timeoutAfter: 0,
      }),
    );
    const c = { timings: { plugins: 0 } } as unknown as HttpContext;
    await runner(to.request)(c);
    runner(to.responseSent)(c);
    assert.ok(c.timings.plugins >= 15, `the async tap's time counted (${c.timings.plugins} ms)`);
    assert.deepEqual(calls, [
      { plugin: 'slow', hook: 'http.request', failed: false },
      { plugin: 'slow', hook: 'http.responseSent', failed: false },
    ]);
  });
});
