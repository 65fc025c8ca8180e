// The local store: this process's memory, at most `maxKeys` clients (least recently
// seen dropped first). Exact for one process; with N workers a client may get N times
// the limit, as each worker counts alone.
import { LRUCache } from 'lru-cache';
import { slidingWindow, tokenBucket, type BucketCell, type Policy, type WindowCell } from '../algorithms.ts';
import type { LimitStore } from './store.ts';

export function localStore(policy: Policy, maxKeys: number, now: () => number): LimitStore {
  if (policy.algorithm === 'sliding_window') {
    const cells = new LRUCache<string, WindowCell>({ max: maxKeys });
    const { limit, window } = policy;
    return {
      sync: true,
      take(key) {
        let cell = cells.get(key);
        if (!cell) cells.set(key, (cell = { start: 0, current: 0, previous: 0 }));
        return slidingWindow(cell, now(), limit, window);
      },
      close: () => cells.clear(),
    };
  }
  const cells = new LRUCache<string, BucketCell>({ max: maxKeys });
  const { rate, burst } = policy;
  return {
    sync: true,
    take(key) {
      const t = now();
      let cell = cells.get(key);
      if (!cell) cells.set(key, (cell = { tokens: burst, at: t }));
      return tokenBucket(cell, t, rate, burst);
    },
    close: () => cells.clear(),
  };
}
