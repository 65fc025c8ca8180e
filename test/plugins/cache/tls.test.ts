// The cache on a TLS frontend: a stale response is served at once and revalidated in the
// background, the revalidation going through the same frontend with the client's TLS
// facts (the gateway never talks to its own TLS port in cleartext).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import { createTestGateway, TestCa, type TestGateway } from 'tapgate/sdk/testing';

const ca = new TestCa();
const gwCert = ca.issue({ cn: 'shop.test', dns: ['shop.test'] });
const events = new EventEmitter();
(globalThis as { __cacheTlsEvents?: EventEmitter }).__cacheTlsEvents = events;

/** Reports each answered request: path, request headers, status. */
const observer = `export default {
  name: 'test-sent', version: '1.0.0',
  setup(api) {
    api.hooks.http.responseSent.tap({ name: 'test-sent', stage: 1000 }, (ctx) => globalThis.__cacheTlsEvents.emit('sent', ctx.path, ctx.headers, ctx.status));
  },
};`;

describe('cache on a TLS frontend', () => {
  let gw: TestGateway;
  let version = 1;
  const origin = () => gw.origins.origin!;

  before(async () => {
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            tls: { certificates: [{ cert: 'gw.pem', key: 'gw.key' }] },
            plugins: ['./observer.ts', 'cache'],
          },
        },
        backends: { app: { servers: [{ name: 'o', address: 'origin:origin' }] } },
      },
      origins: {
        origin: (req: http.IncomingMessage, res: http.ServerResponse) => {
          req.resume();
          const etag = `"${version}"`;
          const headers = { etag, date: new Date(gw.clock.now()).toUTCString(), 'cache-control': 'max-age=10, stale-while-revalidate=30' };
          if (req.headers['if-none-match'] === etag) res.writeHead(304, headers).end();
          else res.writeHead(200, headers).end(`v${version}`);
        },
      },
      files: { 'gw.pem': gwCert.cert, 'gw.key': gwCert.key, 'observer.ts': observer },
      clock: { start: Math.floor(Date.now() / 1000) * 1000 },
    });
  });
  after(async () => {
    await gw?.close();
  });

  const get = (path: string) => gw.request({ path, servername: 'shop.test', ca: ca.cert, headers: { host: 'shop.test' } });

  /** The background request asking for validation, once the gateway answered it; fails after 5 s. */
  const revalidation = (path: string) =>
    new Promise<{ headers: http.IncomingHttpHeaders; status: number }>((resolve, reject) => {
      const timer = setTimeout(() => {
        events.off('sent', on);
        reject(new Error(`no background revalidation of ${path} within 5 s`));
      }, 5_000);
      const on = (p: string, headers: http.IncomingHttpHeaders, status: number) => {
        if (p !== path || headers['cache-control'] !== 'max-age=0') return;
        clearTimeout(timer);
        events.off('sent', on);
        resolve({ headers, status });
      };
      events.on('sent', on);
    });

  it('RFC 5861 3: serves the stale response at once and revalidates it in the background, over the same TLS frontend', async () => {
    const first = await get('/swr');
    assert.equal(first.body, 'v1');
    assert.equal(first.headers['x-cache'], 'MISS');
    gw.clock.advance(15_000);
    version = 2;
    const background = revalidation('/swr');
    const stale = await get('/swr');
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body, 'v1');
    const done = await background;
    assert.equal(done.status, 200);
    const sent = origin().requests.at(-1)!;
    assert.equal(sent.headers['if-none-match'], '"1"', 'the background request is conditional');
    assert.equal(sent.headers['x-forwarded-proto'], 'https', "it carries the client request's TLS facts");
    assert.equal(sent.headers['x-forwarded-host'], 'shop.test');
    const fresh = await get('/swr');
    assert.equal(fresh.body, 'v2');
    assert.equal(fresh.headers['x-cache'], 'HIT');
    assert.equal(origin().requests.length, 2);
  });

  it('a 304 to the background request freshens the stored response (REVALIDATED in its answer, HIT afterwards)', async () => {
    await get('/same');
    gw.clock.advance(15_000);
    const background = revalidation('/same');
    assert.equal((await get('/same')).headers['x-cache'], 'STALE');
    await background;
    const again = await get('/same');
    assert.equal(again.headers['x-cache'], 'HIT');
    assert.equal(again.headers.age, '0', 'the 304 made it fresh again');
    assert.equal(again.body, `v${version}`);
  });
});
