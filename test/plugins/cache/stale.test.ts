import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startCache, type CacheFixture } from './fixture.ts';

describe('cache: serving stale (RFC 5861)', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  it('RFC 5861 3: stale-while-revalidate serves the stale response at once and revalidates it in the background', async () => {
    let version = 1;
    c.routes.set('/swr', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      const etag = `"${version}"`;
      if (req.headers['if-none-match'] === etag) res.writeHead(304, { etag, 'cache-control': 'max-age=10, stale-while-revalidate=30' }).end();
      else res.writeHead(200, { etag, 'cache-control': 'max-age=10, stale-while-revalidate=30' }).end(`v${version}`);
    });
    await c.request('/swr');
    c.advance(15_000);
    version = 2;
    // The background request is the one asking for validation; it is done once the gateway answered it.
    const background = new Promise<http.IncomingHttpHeaders>((resolve) => {
      const on = (path: string, headers: http.IncomingHttpHeaders) => {
        if (path === '/swr' && headers['cache-control'] === 'max-age=0') {
          c.events.off('sent', on);
          resolve(headers);
        }
      };
      c.events.on('sent', on);
    });
    const stale = await c.request('/swr');
    assert.equal(stale.headers['x-cache'], 'STALE');
    assert.equal(stale.body, 'v1');
    assert.equal(stale.headers.age, '15');
    await background;
    assert.equal(c.seen('/swr').at(-1)!.headers['if-none-match'], '"1"', 'the background request is conditional');
    const fresh = await c.request('/swr');
    assert.equal(fresh.body, 'v2');
    assert.equal(fresh.headers['x-cache'], 'HIT');
    assert.equal(c.seen('/swr').length, 2);
  });

  it('RFC 5861 3: beyond the stale-while-revalidate window the client waits for validation', async () => {
    c.routes.set('/swr-late', (req, res) => {
      req.resume();
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-while-revalidate=5' }).end('x');
    });
    await c.request('/swr-late');
    c.advance(20_000);
    assert.equal((await c.request('/swr-late')).headers['x-cache'], 'MISS');
  });

  it('RFC 5861 4: stale-if-error serves the stale response when the server answers 5xx', async () => {
    let failing = false;
    c.routes.set('/sie', (req, res) => {
      req.resume();
      if (failing) return void res.writeHead(503, { 'content-type': 'text/plain' }).end('down for maintenance');
      res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' }).end('last good');
    });
    await c.request('/sie');
    c.advance(30_000);
    failing = true;
    const r = await c.request('/sie');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'last good');
    assert.equal(r.headers['x-cache'], 'STALE');
    c.advance(60_000);
    assert.equal((await c.request('/sie')).status, 503, 'beyond the window the error goes through');
  });

  it("RFC 5861 4: a request's stale-if-error allows it too, and must-revalidate forbids it", async () => {
    let failing = false;
    c.routes.set('/sie-req', (req, res) => {
      req.resume();
      if (failing) return void res.writeHead(500).end('error');
      res.writeHead(200, { 'cache-control': 'max-age=10' }).end('good');
    });
    c.routes.set('/sie-mr', (req, res) => {
      req.resume();
      if (failing) return void res.writeHead(500).end('error');
      res.writeHead(200, { 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60' }).end('good');
    });
    await c.request('/sie-req');
    await c.request('/sie-mr');
    c.advance(20_000);
    failing = true;
    assert.equal((await c.request('/sie-req', { headers: { 'cache-control': 'stale-if-error=60' } })).body, 'good');
    assert.equal((await c.request('/sie-mr')).status, 500);
  });
});

describe("cache: stale-if-error for the gateway's own errors (RFC 5861)", () => {
  it("RFC 5861 4: with the server gone (the gateway's 503), a stale response allowed by stale-if-error is served", async () => {
    const c = await startCache({}, { backend: { retries: 0 } });
    try {
      c.routes.set('/gone', (req, res) => {
        req.resume();
        res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60', etag: '"1"' }).end('last good');
      });
      c.routes.set('/gone-strict', (req, res) => {
        req.resume();
        res.writeHead(200, { 'cache-control': 'max-age=10, must-revalidate, stale-if-error=60' }).end('strict');
      });
      c.routes.set('/gone-plain', (req, res) => {
        req.resume();
        res.writeHead(200, { 'cache-control': 'max-age=10' }).end('plain');
      });
      for (const path of ['/gone', '/gone-strict', '/gone-plain']) await c.request(path);
      await c.origin.close();
      c.advance(30_000);
      const r = await c.request('/gone');
      assert.equal(r.status, 200);
      assert.equal(r.body, 'last good');
      assert.equal(r.headers['x-cache'], 'STALE');
      assert.equal(r.headers.age, '30');
      assert.equal(r.headers.warning, undefined, 'no Warning header (RFC 9111 obsoletes it)');
      const head = await c.request('/gone', { method: 'HEAD' });
      assert.equal(head.status, 200);
      assert.equal(head.headers['x-cache'], 'STALE');
      assert.equal((await c.request('/gone', { headers: { 'if-none-match': '"1"' } })).status, 304, "a client's conditional gets a 304 from the stale copy");
      assert.equal((await c.request('/gone-strict')).status, 503, 'must-revalidate forbids it');
      assert.equal((await c.request('/gone-plain')).status, 503, 'without stale-if-error the error goes through');
      c.advance(60_000);
      const late = await c.request('/gone');
      assert.equal(late.status, 503, 'beyond the window the error goes through');
      assert.equal(late.headers['x-cache'], undefined);
    } finally {
      await c.close();
    }
  });

  it("RFC 5861 4: a request's stale-if-error covers the gateway's 503 too", async () => {
    const c = await startCache({}, { backend: { retries: 0 } });
    try {
      c.routes.set('/gone-req', (req, res) => {
        req.resume();
        res.writeHead(200, { 'cache-control': 'max-age=10' }).end('good');
      });
      await c.request('/gone-req');
      await c.origin.close();
      c.advance(20_000);
      const r = await c.request('/gone-req', { headers: { 'cache-control': 'stale-if-error=60' } });
      assert.equal(r.status, 200);
      assert.equal(r.body, 'good');
      assert.equal(r.headers['x-cache'], 'STALE');
      assert.equal(
        (await c.request('/gone-req', { headers: { 'cache-control': 'stale-if-error=5' } })).status,
        503,
        'stale for longer than the request allows',
      );
    } finally {
      await c.close();
    }
  });

  it("RFC 5861 4: a server that never answers (the gateway's 504) or breaks the connection (502) is hidden too", async () => {
    const c = await startCache({}, { backend: { retries: 0, timeouts: { server: '300ms' } } });
    try {
      let failing: 'hang' | 'reset' | undefined;
      const handler = (body: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
        req.resume();
        if (failing === 'hang') return; // no answer: the gateway's server timeout
        if (failing === 'reset') return void req.socket.destroy();
        res.writeHead(200, { 'cache-control': 'max-age=10, stale-if-error=60' }).end(body);
      };
      c.routes.set('/slow', handler('slow but good'));
      c.routes.set('/reset', handler('reset but good'));
      await c.request('/slow');
      await c.request('/reset');
      c.advance(20_000);
      failing = 'hang';
      const slow = await c.request('/slow');
      assert.equal(slow.status, 200);
      assert.equal(slow.body, 'slow but good');
      assert.equal(slow.headers['x-cache'], 'STALE');
      failing = 'reset';
      const reset = await c.request('/reset');
      assert.equal(reset.status, 200);
      assert.equal(reset.body, 'reset but good');
      assert.equal(reset.headers['x-cache'], 'STALE');
    } finally {
      await c.close();
    }
  });
});
