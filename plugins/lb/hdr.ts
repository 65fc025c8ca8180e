// balance: hdr(<name>) — HAProxy's header hashing: the value of one request header
// (a user id, a tenant, a host) picks the server. Requests without the header, and TCP
// sessions, go round robin, as in HAProxy.
import { defineBalancer, definePlugin, z } from '../../sdk/index.ts';
import { HashOptions, hashBalancer } from './hashing.ts';

export const headerHash = defineBalancer({
  name: 'hdr',
  description: 'Hashes the value of one request header: balance: hdr(name).',
  argument: z.string().describe('the header to hash, as in balance: hdr(x-user)'),
  options: HashOptions,
  create: (options, init) => {
    const name = init.argument!;
    return hashBalancer(init, options, { key: (ctx) => ('header' in ctx ? ctx.header(name) : undefined) });
  },
});

export default definePlugin({
  name: 'lb-hdr',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request header hashing (balance: hdr(name)).',
  autoload: true,
  extensions: [headerHash],
});
