// balance: uri — HAProxy's URI hashing: the request path picks the server, so each
// object lands on one server (caches and proxies hit more). The query is left out
// unless `balance_options.whole: true`. TCP sessions have no path: round robin.
import { definePlugin, type Balancer, type BalancerInit } from '../../sdk/index.ts';
import { hashBalancer } from './hashing.ts';

export function uriHash(init: BalancerInit): Balancer {
  if (init.argument !== undefined) throw new Error(`uri takes no argument (found uri(${init.argument})); the query is hashed with balance_options.whole: true`);
  const whole = init.options.whole ?? false;
  if (typeof whole !== 'boolean') throw new Error(`whole must be true or false, not ${JSON.stringify(whole)}`);
  return hashBalancer(init, {
    options: ['whole'],
    key: (ctx) => ('path' in ctx ? (whole ? ctx.url : ctx.path) : undefined),
  });
}

export default definePlugin({
  name: 'lb-uri',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request path hashing (balance: uri).',
  autoload: true,
  setup(api) {
    api.registerBalancer('uri', uriHash);
  },
});
