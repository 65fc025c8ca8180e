// Taps made by a plugin are captured on hooks of its own, then copied onto the
// generation's hooks, named after the plugin and wrapped so that a throwing tap is
// contained: a bail or series hook rethrows it as a PluginError (the kernel answers
// 500 or closes that one connection); an observe-only hook reports it and goes on.
import type { ContainedError } from './hooks.ts';
import { observeOnly } from './hooks.ts';

export class PluginError extends Error {
  constructor(readonly plugin: string, readonly hook: string, override readonly cause: unknown) {
    super(`plugin "${plugin}" failed in ${hook}: ${cause instanceof Error ? cause.message : String(cause)}`);
    this.name = 'PluginError';
  }
}

type AnyFn = (...args: any[]) => any;
interface FullTap { type: 'sync' | 'async' | 'promise'; fn: AnyFn; name: string; stage?: number; before?: string | string[]; after?: string | string[] }
interface AnyHook { taps: FullTap[]; tap(o: object, fn: AnyFn): void; tapAsync(o: object, fn: AnyFn): void; tapPromise(o: object, fn: AnyFn): void }

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
 * order, honouring `after: 'plugin'` (tapable itself knows only `before`).
 */
export function copyTaps(
  sources: readonly { plugin: string; hooks: Record<string, unknown> }[],
  to: Record<string, unknown>,
  set: string,
  report: Report,
  meter?: Meter,
): void {
  for (const [name, target] of Object.entries(to) as [string, AnyHook][]) {
    const id = `${set}.${name}`;
    const observe = observeOnly.has(id);
    const entries = sources.flatMap(({ plugin, hooks }) => (hooks[name] as AnyHook).taps.map((tap) => ({ plugin, tap })));
    for (const { plugin, tap } of orderByAfter(entries)) {
      const options = { name: plugin, stage: tap.stage, before: tap.before };
      const m = meter?.(plugin, id);
      // A generation's own hooks (boot, close) may take their time; a request's path may not.
      const timeout = set === 'app' ? 0 : m?.timeoutAfter ?? 0;
      if (tap.type === 'sync') target.tap(options, wrapSync(tap.fn, plugin, id, observe, report, m));
      else if (tap.type === 'promise') target.tapPromise(options, wrapPromise(tap.fn, plugin, id, m, timeout));
      else target.tapAsync(options, wrapCallback(tap.fn, plugin, id, m));
    }
  }
}

/** Stable order in which every tap comes after the plugins its `after` names (when they tap the same hook). */
function orderByAfter<E extends { plugin: string; tap: FullTap }>(entries: E[]): E[] {
  if (!entries.some((e) => e.tap.after)) return entries;
  const out: E[] = [];
  const left = [...entries];
  while (left.length) {
    const i = left.findIndex((e) => [e.tap.after ?? []].flat().every((a) => !left.some((o) => o !== e && o.plugin === a)));
    out.push(...left.splice(i === -1 ? 0 : i, 1)); // a cycle: keep plugin order
  }
  return out;
}

/** Records a call's cost: on the tap's meter, and on the request it served. */
function charge(meter: TapMeter | undefined, first: unknown, start: number, failed: boolean): void {
  const ms = performance.now() - start;
  if (meter) {
    meter.record(ms, failed);
    if (meter.slowAfter > 0 && ms > meter.slowAfter) meter.slow(ms);
  }
  const timings = (first as Timed)?.timings;
  if (timings) timings.plugins += ms;
}

function wrapSync(fn: AnyFn, plugin: string, hook: string, observe: boolean, report: Report, meter: TapMeter | undefined): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    const start = performance.now();
    try {
      const result = fn.apply(this, args);
      charge(meter, args[0], start, false);
      return result;
    } catch (error) {
      charge(meter, args[0], start, true);
      if (!observe) throw new PluginError(plugin, hook, error);
      report({ plugin, hook, error });
      return undefined;
    }
  };
}

function wrapPromise(fn: AnyFn, plugin: string, hook: string, meter: TapMeter | undefined, timeout: number): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    const start = performance.now();
    try {
      const result = fn.apply(this, args);
      if (!result || typeof result.then !== 'function') {
        charge(meter, args[0], start, false);
        return Promise.resolve(result);
      }
      return (timeout > 0 ? withTimeout(result, timeout) : result).then(
        (value: unknown) => {
          charge(meter, args[0], start, false);
          return value;
        },
        (error: unknown) => {
          charge(meter, args[0], start, true);
          throw new PluginError(plugin, hook, error);
        },
      );
    } catch (error) {
      charge(meter, args[0], start, true);
      return Promise.reject(new PluginError(plugin, hook, error));
    }
  };
}

/** A tap's promise, or a rejection once `ms` have passed without it settling (the tap itself runs on, unheard). */
function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new TapTimeout(ms)), ms);
    p.then(
      (v) => (clearTimeout(timer), resolve(v)),
      (e) => (clearTimeout(timer), reject(e)),
    );
  });
}

/** An async tap outlived its budget (`plugin_budget.timeout`). */
export class TapTimeout extends Error {
  constructor(readonly ms: number) {
    super(`did not finish within ${ms} ms (plugin_budget.timeout)`);
    this.name = 'TapTimeout';
  }
}

function wrapCallback(fn: AnyFn, plugin: string, hook: string, meter: TapMeter | undefined): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    const callback = args.pop() as AnyFn;
    const start = performance.now();
    try {
      fn.apply(this, [
        ...args,
        (err: unknown, result: unknown) => {
          charge(meter, args[0], start, !!err);
          callback(err ? new PluginError(plugin, hook, err) : null, result);
        },
      ]);
    } catch (error) {
      charge(meter, args[0], start, true);
      callback(new PluginError(plugin, hook, error));
    }
  };
}
