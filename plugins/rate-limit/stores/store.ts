// What every store is: one decision per request for one client key. A store that
// cannot answer (the master gone, Redis down) must not take the gateway down with
// it: `failOpen` lets requests pass, says so once, and asks again a second later.
import type { Logger } from '../../../sdk/index.ts';
import type { Decision } from '../algorithms.ts';

export interface LimitStore {
  /** `take` answers synchronously (the local store), so the plugin taps `request` without a promise. */
  readonly sync: boolean;
  /** Counts one request under `key` and says whether it fits. */
  take(key: string): Decision | Promise<Decision>;
  close(): void | Promise<void>;
}

/** How long a failed store is left alone before it is asked again. */
const pause = 1000;

/**
 * `store.take`, bounded by `timeout` ms; `undefined` when the store failed or was too
 * slow (the request passes, unlimited). Logged once when it starts failing and once
 * when it answers again.
 */
export function failOpen(
  store: LimitStore,
  what: string,
  timeout: number,
  log: Logger,
  now: () => number,
): (key: string) => Decision | undefined | Promise<Decision | undefined> {
  let failing = false;
  let askAgainAt = 0;
  const failed = (reason: string) => {
    if (!failing) log.warn({ store: what, reason }, `rate-limit: the ${what} store cannot answer (${reason}); requests pass unlimited until it does`);
    failing = true;
    askAgainAt = now() + pause;
    return undefined;
  };
  const answered = (d: Decision) => {
    if (failing) log.info({ store: what }, `rate-limit: the ${what} store answers again; limits apply`);
    failing = false;
    return d;
  };
  return (key) => {
    if (failing && now() < askAgainAt) return undefined;
    let asked: Decision | Promise<Decision>;
    try {
      asked = store.take(key);
    } catch (err) {
      return failed((err as Error).message);
    }
    if (!(asked instanceof Promise)) return failing ? answered(asked) : asked;
    return new Promise<Decision | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(failed(`no answer within ${timeout} ms`)), timeout);
      asked.then(
        (d) => {
          clearTimeout(timer);
          resolve(answered(d));
        },
        (err: Error) => {
          clearTimeout(timer);
          resolve(failed(err.message));
        },
      );
    });
  };
}
