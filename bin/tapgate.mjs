#!/usr/bin/env node
// Entry point: loads the TypeScript sources through tsx's loader, then the CLI.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../core/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
