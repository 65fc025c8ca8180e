// `npm start`: the quickstart gateway with its own demo origins, nothing else needed.
import { fileURLToPath } from 'node:url';
import { startGateway } from 'tapgate';
import { startOrigin } from './origins.ts';

const origins = await Promise.all([startOrigin('a', 9001), startOrigin('b', 9002)]);
process.stderr.write('demo origins on 127.0.0.1:9001 and :9002; try: curl -s 127.0.0.1:8080/\n');
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.yaml', import.meta.url)), master: true, signals: true });
await gateway.closed;
for (const o of origins) o.close();
process.exit();
