import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binary } from './binary.ts';

/** The installation's folder (set by the master for prebundled workers; the binary's own folder). */
export const installRoot: string = process.env.TAPGATE_ROOT ?? (binary ? dirname(process.execPath) : fileURLToPath(new URL('..', import.meta.url)));

export const gatewayVersion: string = binary?.version ?? JSON.parse(readFileSync(join(installRoot, 'package.json'), 'utf8')).version;
