// The custom-plugin example with its own demo origins: "stable" on 9011, "next" on 9012,
// the gateway on 8081.
import { fileURLToPath } from 'node:url';
import { startGateway } from 'tapgate';
import { startOrigin } from '../quickstart/origins.ts';

const origins = await Promise.all([startOrigin('stable', 9011), startOrigin('next', 9012)]);
process.stderr.write(
  'demo origins on 127.0.0.1:9011 (stable) and :9012 (next); try:\n' +
    '  curl -si 127.0.0.1:8081/                  (a new visitor: drawn 90/10, gets a cookie)\n' +
    "  curl -s 127.0.0.1:8081/ -H 'Cookie: ab=b'  (always next)\n",
);
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.yaml', import.meta.url)), master: true, signals: true });
await gateway.closed;
for (const o of origins) o.close();
process.exit();
