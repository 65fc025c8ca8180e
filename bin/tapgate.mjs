#!/usr/bin/env node
// Entry point: loads the TypeScript sources through tsx's loader, then the CLI with the
// built-in plugins (entry/cli.ts).
import { register } from 'tsx/esm/api';

// `run` reloads on SIGHUP and SIGUSR2, whose default action ends the process. Loading the
// CLI takes a second: until run handles them (core/serve.ts), ignore them, as nothing
// is read yet that a reload would read again.
if (process.argv[2] === 'run') for (const signal of ['SIGHUP', 'SIGUSR2']) process.on(signal, () => {});
register();
const { main } = await import('../entry/cli.ts');
process.exitCode = await main(process.argv.slice(2));
