import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The installation's folder (set by the master for prebundled workers). */
export const installRoot: string = process.env.TAPGATE_ROOT ?? fileURLToPath(new URL('..', import.meta.url));

export const gatewayVersion: string = JSON.parse(readFileSync(join(installRoot, 'package.json'), 'utf8')).version;
