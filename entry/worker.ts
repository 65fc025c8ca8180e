// A worker process, as a master forks it: the kernel's worker (core/master/worker.ts)
// serving with the built-in plugins. The master prebundles this file and runs the
// bundle; the binary, and a source installation that cannot write the bundle, run it as
// `tapgate __worker` (cli.ts).
import { runWorker } from '../core/master/worker.ts';
import { builtins } from '../plugins/index.ts';

// Its IPC channel would keep the process alive: it leaves explicitly once stopped.
void runWorker(builtins).then((code) => process.exit(code));
