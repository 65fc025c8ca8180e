// The shared store: `api.take`, a sliding window decided by the master for every
// worker (alone, by this process) and kept across reloads.
import type { PluginApi } from '../../../sdk/index.ts';
import type { LimitStore } from './store.ts';

export function sharedStore(api: PluginApi, limit: number, window: number): LimitStore {
  const options = { limit, window };
  return {
    sync: false,
    take: (key) => api.take(key, options),
    close: () => undefined,
  };
}
