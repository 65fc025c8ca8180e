// The one place the built-in plugins meet the kernel: core/ names no plugin, the entry
// points hand it these as they would any user plugin, and tell its master how a worker
// process starts.
import { fileURLToPath } from 'node:url';
import { binary } from '../core/binary.ts';
import type { AnyPluginDefinition } from '../core/loader.ts';
import type { WorkerEntry } from '../core/master/master.ts';

/** The built-in plugins (plugins/index.ts), loaded on first use: a command that needs none starts sooner. */
export async function loadBuiltins(): Promise<ReadonlyMap<string, AnyPluginDefinition>> {
  return (await import('../plugins/index.ts')).builtins;
}

/**
 * How a master starts its workers; cluster runs `execPath exec ...args`. The gateway
 * binary forks itself, and a single executable's own arguments start after its argv[1],
 * so there `exec` is the command. From the sources: worker.ts prebundled, or, where the
 * bundle cannot be written, `tapgate __worker` through tsx.
 */
export const workerEntry: WorkerEntry = binary
  ? { exec: '__worker', args: [] }
  : {
      exec: fileURLToPath(new URL('../bin/tapgate.mjs', import.meta.url)),
      args: ['__worker'],
      bundle: fileURLToPath(new URL('./worker.ts', import.meta.url)),
    };
