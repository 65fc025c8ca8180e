// balance: uri — HAProxy's URI hashing: the request path picks the server, so each
// object lands on one server (caches and proxies hit more). The query is left out
// unless `balance_options.whole: true`. TCP sessions have no path: round robin.
import { defineBalancer, definePlugin, z } from '../../sdk/index.ts';
import { hashBalancer, hashShape, onTheRing } from './hashing.ts';

export const uriHash = defineBalancer({
  name: 'uri',
  description: 'Hashes the request path (with the query when whole: true).',
  options: z
    .strictObject({
      ...hashShape,
      /** Hash the query too. */
      whole: z.boolean().default(false),
    })
    .superRefine(onTheRing),
  create: (options, init) => hashBalancer(init, options, { key: (ctx) => ('path' in ctx ? (options.whole ? ctx.url : ctx.path) : undefined) }),
});

export default definePlugin({
  name: 'lb-uri',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request path hashing (balance: uri).',
  autoload: true,
  extensions: [uriHash],
});
