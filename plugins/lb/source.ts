// balance: source — HAProxy's source hashing: the client's IP address picks the server,
// so a client keeps reaching the same one for as long as the servers stay the same
// (with hash_type: consistent, mostly the same even when one comes or goes).
import { definePlugin, type Balancer, type BalancerInit } from '../../sdk/index.ts';
import { hashBalancer } from './hashing.ts';

export function sourceHash(init: BalancerInit): Balancer {
  if (init.argument !== undefined) throw new Error(`source takes no argument (found source(${init.argument}))`);
  return hashBalancer(init, {
    // A dual-stack listener reports IPv4 clients as ::ffff:a.b.c.d: hash them as a.b.c.d.
    key: (ctx) => (ctx.client.address.startsWith('::ffff:') ? ctx.client.address.slice(7) : ctx.client.address),
  });
}

export default definePlugin({
  name: 'lb-source',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Client IP hashing (balance: source).',
  autoload: true,
  setup(api) {
    api.registerBalancer('source', sourceHash);
  },
});
