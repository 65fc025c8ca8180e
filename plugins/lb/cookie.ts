// balance: cookie(<name>) — the value of one request cookie (a session id) picks the
// server, so a session sticks to it without the gateway keeping any table. Requests
// without the cookie, and TCP sessions, go round robin, as HAProxy's hdr does.
import { definePlugin, type Balancer, type BalancerInit } from '../../sdk/index.ts';
import { hashBalancer } from './hashing.ts';

export function cookieHash(init: BalancerInit): Balancer {
  const name = init.argument;
  if (name === undefined) throw new Error('cookie needs the cookie to hash, as in balance: cookie(session)');
  return hashBalancer(init, { key: (ctx) => ('cookies' in ctx ? ctx.cookies[name] : undefined) });
}

export default definePlugin({
  name: 'lb-cookie',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request cookie hashing (balance: cookie(name)).',
  autoload: true,
  setup(api) {
    api.registerBalancer('cookie', cookieHash);
  },
});
