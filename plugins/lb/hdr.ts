// balance: hdr(<name>) — HAProxy's header hashing: the value of one request header
// (a user id, a tenant, a host) picks the server. Requests without the header, and TCP
// sessions, go round robin, as in HAProxy.
import { definePlugin, type Balancer, type BalancerInit } from '../../sdk/index.ts';
import { hashBalancer } from './hashing.ts';

export function headerHash(init: BalancerInit): Balancer {
  const name = init.argument;
  if (name === undefined) throw new Error('hdr needs the header to hash, as in balance: hdr(x-user)');
  return hashBalancer(init, { key: (ctx) => ('header' in ctx ? ctx.header(name) : undefined) });
}

export default definePlugin({
  name: 'lb-hdr',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request header hashing (balance: hdr(name)).',
  autoload: true,
  setup(api) {
    api.registerBalancer('hdr', headerHash);
  },
});
