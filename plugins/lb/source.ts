// balance: source — HAProxy's source hashing: the client's IP address picks the server,
// so a client keeps reaching the same one for as long as the servers stay the same
// (with hash_type: consistent, mostly the same even when one comes or goes).
import { defineBalancer, definePlugin } from '../../sdk/index.ts';
import { HashOptions, hashBalancer } from './hashing.ts';

export const sourceHash = defineBalancer({
  name: 'source',
  description: 'Hashes the client IP address.',
  options: HashOptions,
  create: (options, init) =>
    hashBalancer(init, options, {
      // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d: hash them as a.b.c.d.
      key: (ctx) => (ctx.client.address.startsWith('::ffff:') ? ctx.client.address.slice(7) : ctx.client.address),
    }),
});

export default definePlugin({
  name: 'lb-source',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Client IP hashing (balance: source).',
  autoload: true,
  extensions: [sourceHash],
});
