// The `tapgate` command: the kernel's CLI (core/cli/main.ts) given the built-in plugins
// and how its workers start. bin/tapgate.mjs and the gateway binary run this.
import { main as cli } from '../core/cli/main.ts';
import { loadBuiltins, workerEntry } from './wiring.ts';

/** `tapgate ARGS...`: resolves with the exit code. */
export async function main(argv: string[]): Promise<number> {
  if (argv[0] === '__worker') {
    // A worker a master forked: it serves until told to stop, then ends the process itself.
    await import('./worker.ts');
    return new Promise<never>(() => {});
  }
  return cli(argv, { builtins: loadBuiltins, worker: workerEntry });
}
