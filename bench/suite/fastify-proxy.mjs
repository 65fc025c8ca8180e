// The Node peer: fastify + @fastify/http-proxy in one process, round robin over the two
// origins (getUpstream alternates; reply-from keeps an undici pool per origin).
//   LISTEN_PORT=... ORIGIN1_PORT=... ORIGIN2_PORT=... node fastify-proxy.mjs
import Fastify from 'fastify';
import proxy from '@fastify/http-proxy';

const origins = [process.env.ORIGIN1_PORT, process.env.ORIGIN2_PORT].map((p) => `http://127.0.0.1:${p}`);
let next = 0;
const app = Fastify({ logger: false, bodyLimit: 16 * 1024 * 1024 });
// Bodies are streamed to the origin as they come, not parsed.
app.removeAllContentTypeParsers();
app.addContentTypeParser('*', (req, payload, done) => done(null, payload));
await app.register(proxy, {
  upstream: '',
  replyOptions: {
    getUpstream: () => origins[next++ % origins.length],
    // Hop-by-hop: undici refuses a request with a Connection header (a 500 for every
    // "Connection: close" request), and the origin's "keep-alive" is not the client's.
    rewriteRequestHeaders: (req, headers) => {
      const { connection, ...rest } = headers;
      return rest;
    },
    rewriteHeaders: (headers) => {
      const { connection, ...rest } = headers;
      return rest;
    },
  },
  undici: { connections: 128, pipelining: 1, keepAliveTimeout: 60_000 },
  http2: false,
});
await app.listen({ port: Number(process.env.LISTEN_PORT), host: '127.0.0.1' });
process.on('SIGTERM', () => app.close().then(() => process.exit(0)));
