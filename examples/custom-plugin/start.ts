// The custom-plugin example with its own demo origins: "stable" on 9011, "next" on 9012,
// the gateway on 8081.
import { fileURLToPath } from 'node:url';
import { main } from '../../entry/cli.ts';
import { startOrigin } from '../quickstart/origins.ts';

const origins = await Promise.all([startOrigin('stable', 9011), startOrigin('next', 9012)]);
process.stderr.write(
  'demo origins on 127.0.0.1:9011 (stable) and :9012 (next); try:\n' +
    '  curl -si 127.0.0.1:8081/                  (a new visitor: drawn 90/10, gets a cookie)\n' +
    "  curl -s 127.0.0.1:8081/ -H 'Cookie: ab=b'  (always next)\n",
);
const code = await main(['run', '-c', fileURLToPath(new URL('./tapgate.yaml', import.meta.url))]);
for (const o of origins) o.close();
process.exit(code);
