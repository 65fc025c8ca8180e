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

/**
 * Copies the taps plugins made on their own hooks onto `to`, hook by hook, in plugin
 * order, honouring `after: 'plugin'` (tapable itself knows only `before`).
 */
export function copyTaps(
  sources: readonly { plugin: string; hooks: Record<string, unknown> }[],
  to: Record<string, unknown>,
  set: string,
  report: Report,
): void {
  for (const [name, target] of Object.entries(to) as [string, AnyHook][]) {
    const id = `${set}.${name}`;
    const observe = observeOnly.has(id);
    const entries = sources.flatMap(({ plugin, hooks }) => (hooks[name] as AnyHook).taps.map((tap) => ({ plugin, tap })));
    for (const { plugin, tap } of orderByAfter(entries)) {
      const options = { name: plugin, stage: tap.stage, before: tap.before };
      if (tap.type === 'sync') target.tap(options, wrapSync(tap.fn, plugin, id, observe, report));
      else if (tap.type === 'promise') target.tapPromise(options, wrapPromise(tap.fn, plugin, id));
      else target.tapAsync(options, wrapCallback(tap.fn, plugin, id));
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

function wrapSync(fn: AnyFn, plugin: string, hook: string, observe: boolean, report: Report): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    try {
      return fn.apply(this, args);
    } catch (error) {
      if (!observe) throw new PluginError(plugin, hook, error);
      report({ plugin, hook, error });
      return undefined;
    }
  };
}

function wrapPromise(fn: AnyFn, plugin: string, hook: string): AnyFn {
  const fail = (error: unknown) => {
    throw new PluginError(plugin, hook, error);
  };
  return function (this: unknown, ...args: unknown[]) {
    try {
      const result = fn.apply(this, args);
      return result && typeof result.then === 'function' ? result.then(undefined, fail) : Promise.resolve(result);
    } catch (error) {
      return Promise.reject(new PluginError(plugin, hook, error));
    }
  };
}

function wrapCallback(fn: AnyFn, plugin: string, hook: string): AnyFn {
  return function (this: unknown, ...args: unknown[]) {
    const callback = args.pop() as AnyFn;
    try {
      fn.apply(this, [...args, (err: unknown, result: unknown) => callback(err ? new PluginError(plugin, hook, err) : null, result)]);
    } catch (error) {
      callback(new PluginError(plugin, hook, error));
    }
  };
}
