// balance: cookie(<name>) — the value of one request cookie (a session id) picks the
// server, so a session sticks to it without the gateway keeping any table. Requests
// without the cookie, and TCP sessions, go round robin, as HAProxy's hdr does.
import { defineBalancer, definePlugin, z } from '../../sdk/index.ts';
import { HashOptions, hashBalancer } from './hashing.ts';

export const cookieHash = defineBalancer({
  name: 'cookie',
  description: 'Hashes the value of one request cookie: balance: cookie(name).',
  argument: z.string().describe('the cookie to hash, as in balance: cookie(session)'),
  options: HashOptions,
  create: (options, init) => {
    const name = init.argument!;
    return hashBalancer(init, options, { key: (ctx) => ('cookies' in ctx ? ctx.cookies[name] : undefined) });
  },
});

export default definePlugin({
  name: 'lb-cookie',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Request cookie hashing (balance: cookie(name)).',
  autoload: true,
  extensions: [cookieHash],
});
