// The quickstart (examples/quickstart/tapgate.yaml) written as TypeScript: the same
// gateway, typed by defineConfig, so an editor completes keys and `tsc` catches a
// misspelt one. Its own ports (8082, origins 9021 and 9022) let it run beside the quickstart.
// `node --import tsx examples/typescript-config/start.ts` runs it with its demo origins.
import { defineConfig } from 'tapgate/sdk';

const origins = { a: 9021, b: 9022 };

export default defineConfig({
  log: {
    level: 'info',
    access: true, // one JSON line per request on stdout
  },
  frontends: {
    web: {
      bind: '127.0.0.1:8082',
      mode: 'http',
      default_backend: 'app',
      plugins: [
        // The quickstart's plugin; paths are relative to this file.
        { use: '../quickstart/hello-header.ts', options: { header: 'x-served-by-tapgate' } },
      ],
    },
  },
  backends: {
    app: {
      balance: 'roundrobin',
      // Computed, as only a script config can: one server per origin.
      servers: Object.entries(origins).map(([name, port]) => ({ name, address: `127.0.0.1:${port}`, weight: 1 })),
    },
  },
});
