// http.errorResponse: a plugin replaces the gateway's own error answers (an error page).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { deadPort, rawExchange, startGateway } from '../../helpers/gateway.ts';

const errorPages = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'error-pages',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.errorResponse.tapPromise('error-pages', async (ctx, status) =>
      status === 503 ? { status, headers: { 'content-type': 'text/html' }, body: '<h1>We will be right back</h1>' } : undefined);
  },
});`;

describe('http.errorResponse', () => {
  it("replaces the gateway's 503 with a plugin's page, and leaves other errors alone", async () => {
    const gw = await startGateway(
      {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'down',
            plugins: ['./error-pages.ts'],
            routes: [{ name: 'missing', match: { path: '/missing' }, backend: 'nowhere-at-runtime' }],
          },
        },
        backends: {
          down: { retries: 0, servers: [{ name: 'd', address: `127.0.0.1:${await deadPort()}` }] },
          'nowhere-at-runtime': { servers: [{ name: 'x', address: `127.0.0.1:${await deadPort()}` }] },
        },
      },
      { 'error-pages.ts': errorPages },
    );
    try {
      const res = await fetch(gw.url('/'));
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('content-type'), 'text/html');
      assert.equal(await res.text(), '<h1>We will be right back</h1>');
      // Refused before any route is chosen: the gateway's own plain answer.
      const raw = await rawExchange(gw.port(), 'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n');
      assert.match(raw, /^HTTP\/1\.1 400 .*content-type: text\/plain/s);
    } finally {
      await gw.close();
    }
  });
});
