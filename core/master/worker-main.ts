// Entry of a worker process when the master runs it from a prebundled file (no tsx).
import { runWorker } from './worker.ts';

process.exit(await runWorker());
