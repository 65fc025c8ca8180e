// `npm start`: the quickstart gateway with its own demo origins, nothing else needed.
import { fileURLToPath } from 'node:url';
import { main } from '../../entry/cli.ts';
import { startOrigin } from './origins.ts';

const origins = await Promise.all([startOrigin('a', 9001), startOrigin('b', 9002)]);
process.stderr.write('demo origins on 127.0.0.1:9001 and :9002; try: curl -s 127.0.0.1:8080/\n');
const code = await main(['run', '-c', fileURLToPath(new URL('./tapgate.yaml', import.meta.url))]);
for (const o of origins) o.close();
process.exit(code);
