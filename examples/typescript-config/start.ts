// The typescript-config example with the quickstart's demo origins, on their own ports.
import { fileURLToPath } from 'node:url';
import { startGateway } from 'tapgate';
import { startOrigin } from '../quickstart/origins.ts';

const origins = await Promise.all([startOrigin('a', 9021), startOrigin('b', 9022)]);
process.stderr.write('demo origins on 127.0.0.1:9021 and :9022; try: curl -s 127.0.0.1:8082/\n');
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.config.ts', import.meta.url)), master: true, signals: true });
await gateway.closed;
for (const o of origins) o.close();
process.exit();
