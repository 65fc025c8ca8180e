// Taps made by a plugin are captured on hooks of its own, then copied onto the
// generation's hooks, named after the plugin. tapable keeps them in order (stage,
// `before`); the kernel runs every chain with `runner`, never with tapable's own `call`
// or `promise` (which would run the taps bare). The runner times each tap and contains
// one that throws: a bail or series hook fails with a PluginError (the kernel answers 500
// or closes that one connection); an observe-only hook reports it and goes on.
import { performance } from 'node:perf_hooks';
import { AsyncSeriesBailHook, SyncBailHook, SyncHook } from 'tapable';
import type { ContainedError, Eventually } from '../sdk/hooks.ts';
import { observeOnly } from './hooks.ts';

export class PluginError extends Error {
  constructor(
    readonly plugin: string,
    readonly hook: string,
    override readonly cause: unknown,
  ) {
    super(`plugin "${plugin}" failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'PluginError';
  }
}

type AnyFn = (...args: any[]) => any;
interface FullTap {
  type: 'sync' | 'async' | 'promise';
  fn: AnyFn;
  name: string;
  stage?: number;
  before?: string | string[];
  after?: string | string[];
  step?: Step;
}
/** A plugin's tap as `runner` calls it: its own function (a callback-style one made to return a promise), and whom to charge and tell. */
interface Step {
  fn: AnyFn;
  plugin: string;
  hook: string;
  meter: TapMeter | undefined;
  /** ms after which an async call fails (0: never). */
  timeout: number;
  /** On an observe-only hook, where a failure is reported while the chain goes on; otherwise the failure ends the chain. */
  report: Report | undefined;
}
interface AnyHook {
  taps: FullTap[];
  _args: string[];
  tap(o: object, fn: AnyFn): void;
  tapAsync(o: object, fn: AnyFn): void;
  tapPromise(o: object, fn: AnyFn): void;
}

export type Report = (e: ContainedError) => void;

/** Where a tap's cost goes: one per plugin and hook, looked up once when taps are copied. */
export interface TapMeter {
  /** A call took `ms` (and failed, when `failed`). */
  record(ms: number, failed: boolean): void;
  /** ms over which a call is reported as slow (0: never). */
  readonly slowAfter: number;
  /** A call took longer than `slowAfter`. */
  slow(ms: number): void;
  /** ms after which an async call on a request's path fails that request (0: never). */
  readonly timeoutAfter: number;
}
export type Meter = (plugin: string, hook: string) => TapMeter;

/** The first argument of request hooks: its `timings.plugins` sums the time spent in taps. */
type Timed = { timings?: { plugins: number } } | undefined;

/**
 * Copies the taps plugins made on their own hooks onto `to`, hook by hook, in plugin
 * order, honouring `after: 'plugin'` (tapable itself knows only `before`): a tap's own,
 * and its plugin's (`after` in the definition), which applies to every tap it makes.
 * Copied taps keep their `after`, so `explain` can say why they come where they do.
 */
export function copyTaps(
  sources: readonly { plugin: string; hooks: object; after?: readonly string[] }[],
  to: object,
  set: string,
  report: Report,
  meter?: Meter,
): void {
  for (const [name, target] of Object.entries(to) as [string, AnyHook][]) {
    const id = `${set}.${name}`;
    // The runner passes two arguments: every hook of core/hooks.ts takes two at most.
    const arity = target._args.length;
    if (arity > 2) throw new Error(`hook ${id} takes ${arity} arguments; taps are called with two at most`);
    const observe = observeOnly.has(id);
    const entries = sources.flatMap(({ plugin, hooks, after: pluginAfter }) =>
      ((hooks as Record<string, unknown>)[name] as AnyHook).taps.map((tap) => ({ plugin, tap, after: [...[tap.after ?? []].flat(), ...(pluginAfter ?? [])] })),
    );
    for (const { plugin, tap, after } of orderByAfter(entries)) {
      const m = meter?.(plugin, id);
      // A generation's own hooks (boot, close) may take their time; a request's path may not.
      const timeout = set === 'app' ? 0 : (m?.timeoutAfter ?? 0);
      const step: Step = {
        fn: tap.type === 'async' ? callbackTap(tap.fn, arity) : tap.fn,
        plugin,
        hook: id,
        meter: m,
        timeout,
        report: observe ? report : undefined,
      };
      // tapable places the tap (stage, `before`) and lists it; the runner calls its `step`.
      const options = { name: plugin, stage: tap.stage, before: tap.before, ...(after.length ? { after } : {}), step };
      if (tap.type === 'sync') target.tap(options, tap.fn);
      else if (tap.type === 'promise') target.tapPromise(options, tap.fn);
      else target.tapAsync(options, tap.fn);
    }
  }
}

/** Stable order in which every tap comes after the plugins its `after` names (when they tap the same hook). */
function orderByAfter<E extends { plugin: string; after: readonly string[] }>(entries: E[]): E[] {
  if (!entries.some((e) => e.after.length)) return entries;
  const out: E[] = [];
  const left = [...entries];
  while (left.length) {
    const i = left.findIndex((e) => e.after.every((a) => !left.some((o) => o !== e && o.plugin === a)));
    out.push(...left.splice(i === -1 ? 0 : i, 1)); // a cycle: keep plugin order
  }
  return out;
}

/**
 * Where a stage overrules a plugin's `after`: on each hook of `hooks` (one set, `set`),
 * a tap that comes before a tap of a plugin it should follow. `after` orders taps only
 * within a stage, so a plugin declaring it and tapping earlier is told.
 */
export function afterOverruled(set: string, hooks: object): { plugin: string; message: string }[] {
  const found: { plugin: string; message: string }[] = [];
  for (const [name, hook] of Object.entries(hooks) as [string, { taps: { name: string; stage?: number; after?: readonly string[] }[] }][]) {
    hook.taps.forEach((tap, i) => {
      for (const later of hook.taps.slice(i + 1)) {
        if (later.name === tap.name || !tap.after?.includes(later.name)) continue;
        found.push({
          plugin: tap.name,
          message: `plugin "${tap.name}" runs after "${later.name}", but on ${set}.${name} its tap (stage ${tap.stage ?? 0}) comes before "${later.name}"'s (stage ${later.stage ?? 0}): stages order taps before "after" does`,
        });
      }
    });
  }
  return found;
}

/** Records a call's cost: on the tap's meter, and on the request it served. */
function account(meter: TapMeter | undefined, first: unknown, ms: number, failed: boolean): void {
  if (meter) {
    meter.record(ms, failed);
    if (meter.slowAfter > 0 && ms > meter.slowAfter) meter.slow(ms);
  }
  const timings = (first as Timed)?.timings;
  if (timings) timings.plugins += ms;
}

/** A tap's promise, timed from `start`, failing past the budget, its rejection a PluginError. */
function settle(result: PromiseLike<unknown>, step: Step, first: unknown, start: number): PromiseLike<unknown> {
  return (step.timeout > 0 ? withTimeout(result, step.timeout) : result).then(
    (value: unknown) => {
      account(step.meter, first, performance.now() - start, false);
      return value;
    },
    (error: unknown) => {
      account(step.meter, first, performance.now() - start, true);
      throw new PluginError(step.plugin, step.hook, error);
    },
  );
}

export const isThenable = (v: unknown): v is PromiseLike<unknown> => v != null && typeof (v as PromiseLike<unknown>).then === 'function';

/**
 * A tap's promise, or a rejection once `ms` have passed without it settling (the tap
 * itself runs on, unheard). One sweeping timer watches every call in flight, instead
 * of a timer set and cleared per call: a timeout fires up to a tenth of `ms` late.
 */
function withTimeout<T>(p: PromiseLike<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const call: Watched = { deadline: performance.now() + ms, ms, reject };
    watched.add(call);
    const period = Math.max(5, Math.min(1000, ms / 10));
    if (sweeper === undefined || period < sweepEvery) sweepAt(period);
    p.then(
      (v) => (watched.delete(call), resolve(v)),
      (e) => (watched.delete(call), reject(e)),
    );
  });
}

interface Watched {
  deadline: number;
  ms: number;
  reject: (e: Error) => void;
}
const watched = new Set<Watched>();
let sweeper: NodeJS.Timeout | undefined;
let sweepEvery = Infinity;

function sweepAt(period: number): void {
  clearInterval(sweeper);
  sweepEvery = period;
  sweeper = setInterval(sweep, period).unref();
}

function sweep(): void {
  const now = performance.now();
  for (const call of watched) {
    if (call.deadline > now) continue;
    watched.delete(call);
    call.reject(new TapTimeout(call.ms));
  }
  if (watched.size > 0) return;
  clearInterval(sweeper);
  sweeper = undefined;
  sweepEvery = Infinity;
}

/** An async tap outlived its budget (`plugin_budget.timeout`). */
export class TapTimeout extends Error {
  constructor(readonly ms: number) {
    super(`did not finish within ${ms} ms (plugin_budget.timeout)`);
    this.name = 'TapTimeout';
  }
}

const compiled = Symbol('tapgate.run');
interface Compiled {
  taps: number;
  run: AnyFn;
}

/**
 * A hook's chain as the kernel calls it: a sync hook's result, or an async hook's, which
 * is a promise only when a tap returned one. `undefined` when no tap bailed.
 */
export type Run<H> = H extends { call(...args: infer A): infer R }
  ? (...args: A) => R | undefined
  : H extends { promise(...args: infer A): Promise<infer R> }
    ? (...args: A) => Eventually<R | undefined>
    : never;

/**
 * The kernel's one way to run a hook's chain, sync or async: its taps in order, timed,
 * each one that throws contained (see above). An async chain runs in the calling turn
 * and goes asynchronous only from the first tap that returns a promise: tapable's
 * `promise()` costs a promise and a turn per call even when every tap answers at once (a
 * sync tap, a remembered token). A bail hook's first tap to return something other than
 * `undefined` ends the run with it. Built once per hook and set of taps.
 */
export function runner<H extends { taps: readonly unknown[] }>(hook: H): Run<H> {
  const h = hook as unknown as AnyHook & { [compiled]?: Compiled };
  const known = h[compiled];
  if (known !== undefined && known.taps === h.taps.length) return known.run as Run<H>;
  const kind = (hook as { constructor: unknown }).constructor;
  const bail = kind === SyncBailHook || kind === AsyncSeriesBailHook;
  const arity = h._args.length;
  // Taps copied from plugins carry their step; others (made on the generation's hooks directly) run as tapped, uncontained.
  const steps = h.taps.map(
    (t): Step => t.step ?? { fn: t.type === 'async' ? callbackTap(t.fn, arity) : t.fn, plugin: '', hook: '', meter: undefined, timeout: 0, report: undefined },
  );
  const n = steps.length;
  // Hooks take two arguments at most. One clock read between taps: one's end is the next one's start.
  const sync = (a: unknown, b: unknown): unknown => {
    let start = performance.now();
    for (let i = 0; i < n; i++) {
      const step = steps[i]!;
      let result;
      try {
        result = step.fn(a, b);
      } catch (error) {
        contain(step, a, start, error);
        start = performance.now();
        continue;
      }
      const end = performance.now();
      if (step.plugin) account(step.meter, a, end - start, false);
      start = end;
      if (bail && result !== undefined) return result;
    }
    return undefined;
  };
  const from = (i: number, a: unknown, b: unknown): unknown => {
    let start = performance.now();
    for (; i < n; i++) {
      const step = steps[i]!;
      let result;
      try {
        result = step.fn(a, b);
      } catch (error) {
        contain(step, a, start, error);
        start = performance.now();
        continue;
      }
      if (isThenable(result)) {
        const next = i + 1;
        return (step.plugin ? settle(result, step, a, start) : result).then((value) => (bail && value !== undefined ? value : from(next, a, b)));
      }
      const end = performance.now();
      if (step.plugin) account(step.meter, a, end - start, false);
      start = end;
      if (bail && result !== undefined) return result;
    }
    return undefined;
  };
  const run = kind === SyncHook || kind === SyncBailHook ? sync : (a: unknown, b: unknown) => from(0, a, b);
  h[compiled] = { taps: n, run };
  return run as Run<H>;
}

/** A tap threw: its call is charged as failed, then the chain fails with a PluginError, or (observe-only hooks) it is reported and the chain goes on. */
function contain(step: Step, first: unknown, start: number, error: unknown): void {
  if (!step.plugin) throw error;
  account(step.meter, first, performance.now() - start, true);
  if (!step.report) throw new PluginError(step.plugin, step.hook, error);
  step.report({ plugin: step.plugin, hook: step.hook, error });
}

/** A `tapAsync` tap called as one that returns a promise. */
function callbackTap(fn: AnyFn, arity: number): AnyFn {
  return (...args: unknown[]) =>
    new Promise((resolve, reject) => fn(...args.slice(0, arity), (err: unknown, value: unknown) => (err ? reject(err) : resolve(value))));
}
