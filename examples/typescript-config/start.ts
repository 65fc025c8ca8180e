// The typescript-config example with the quickstart's demo origins, on their own ports.
import { fileURLToPath } from 'node:url';
import { main } from '../../entry/cli.ts';
import { startOrigin } from '../quickstart/origins.ts';

const origins = await Promise.all([startOrigin('a', 9021), startOrigin('b', 9022)]);
process.stderr.write('demo origins on 127.0.0.1:9021 and :9022; try: curl -s 127.0.0.1:8082/\n');
const code = await main(['run', '-c', fileURLToPath(new URL('./tapgate.config.ts', import.meta.url))]);
for (const o of origins) o.close();
process.exit(code);
