import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import { startCache, type CacheFixture } from './fixture.ts';

/** An origin resource with an ETag and Last-Modified that answers conditionals itself. */
function resource(state: { etag: string; body: string; extra?: Record<string, string> }, cacheControl = 'max-age=10') {
  const lastModified = new Date(Date.now() - 3_600_000).toUTCString();
  return (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    const headers = { etag: state.etag, 'last-modified': lastModified, 'cache-control': cacheControl, ...state.extra };
    if (req.headers['if-none-match'] === state.etag) return void res.writeHead(304, headers).end();
    res.writeHead(200, { ...headers, 'content-type': 'text/plain' }).end(state.body);
  };
}

describe('cache: validation', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  it('RFC 9111 4.3.1, 4.3.3: a stale entry is validated with If-None-Match and a 304 serves the stored body as a 200', async () => {
    c.routes.set('/etag', resource({ etag: '"v1"', body: 'stored body' }));
    await c.request('/etag');
    c.advance(11_000);
    const r = await c.request('/etag');
    assert.equal(r.status, 200);
    assert.equal(r.body, 'stored body');
    assert.equal(r.headers['x-cache'], 'REVALIDATED');
    assert.equal(r.headers['content-length'], '11');
    assert.equal(r.headers['content-type'], 'text/plain');
    assert.equal(c.seen('/etag').at(-1)!.headers['if-none-match'], '"v1"');
    // Freshened: fresh again for max-age from the 304.
    assert.equal((await c.request('/etag')).headers['x-cache'], 'HIT');
    assert.equal(c.seen('/etag').length, 2);
  });

  it('RFC 9111 4.3.4: a 304 updates the stored header fields', async () => {
    const state = { etag: '"h"', body: 'b', extra: { 'x-version': '1' } };
    c.routes.set('/update', resource(state));
    await c.request('/update');
    c.advance(11_000);
    state.extra = { 'x-version': '2' };
    assert.equal((await c.request('/update')).headers['x-version'], '2');
    const hit = await c.request('/update');
    assert.equal(hit.headers['x-cache'], 'HIT');
    assert.equal(hit.headers['x-version'], '2');
  });

  it('RFC 9111 4.3.1: Last-Modified is sent back as If-Modified-Since', async () => {
    const lastModified = new Date(Date.now() - 3_600_000).toUTCString();
    c.routes.set('/lm', (req, res) => {
      req.resume();
      if (req.headers['if-modified-since'] === lastModified) return void res.writeHead(304, { 'cache-control': 'max-age=10' }).end();
      res.writeHead(200, { 'last-modified': lastModified, 'cache-control': 'max-age=10' }).end('by date');
    });
    await c.request('/lm');
    c.advance(11_000);
    const r = await c.request('/lm');
    assert.equal(r.body, 'by date');
    assert.equal(r.headers['x-cache'], 'REVALIDATED');
  });

  it('RFC 9111 4.3.3: a 200 answering the validation replaces the stored response', async () => {
    const state = { etag: '"a"', body: 'old' };
    c.routes.set('/changed', resource(state));
    await c.request('/changed');
    c.advance(11_000);
    Object.assign(state, { etag: '"b"', body: 'new' });
    const r = await c.request('/changed');
    assert.equal(r.body, 'new');
    assert.equal(r.headers['x-cache'], 'MISS');
    assert.equal((await c.request('/changed')).body, 'new');
    assert.equal((await c.request('/changed')).headers['x-cache'], 'HIT');
  });

  it("RFC 9111 4.3.2: a client's If-None-Match matching a fresh entry gets a 304 from the cache", async () => {
    c.routes.set('/inm', resource({ etag: '"x"', body: 'body' }));
    await c.request('/inm');
    const r = await c.request('/inm', { headers: { 'if-none-match': 'W/"y", "x"' } });
    assert.equal(r.status, 304);
    assert.equal(r.body, '');
    assert.equal(r.headers.etag, '"x"');
    assert.equal(r.headers['x-cache'], 'HIT');
    assert.equal((await c.request('/inm', { headers: { 'if-none-match': '"z"' } })).status, 200);
    assert.equal(c.seen('/inm').length, 1);
  });

  it("RFC 9111 4.3.2: a client's If-Modified-Since not before Last-Modified gets a 304 from the cache", async () => {
    c.routes.set('/ims', resource({ etag: '"i"', body: 'body' }));
    await c.request('/ims');
    assert.equal((await c.request('/ims', { headers: { 'if-modified-since': new Date().toUTCString() } })).status, 304);
    assert.equal((await c.request('/ims', { headers: { 'if-modified-since': new Date(Date.now() - 7_200_000).toUTCString() } })).status, 200);
  });

  it("RFC 9111 4.3.2: a client's conditional on a stale entry is answered 304 after the server validates it", async () => {
    c.routes.set('/cond-stale', resource({ etag: '"s"', body: 'body' }));
    await c.request('/cond-stale');
    c.advance(11_000);
    const r = await c.request('/cond-stale', { headers: { 'if-none-match': '"s"' } });
    assert.equal(r.status, 304);
    assert.equal(r.headers['x-cache'], 'REVALIDATED');
  });

  it('RFC 9111 4.3.3: HEAD on a stale entry is validated and answered with the stored headers', async () => {
    c.routes.set('/head-stale', resource({ etag: '"hs"', body: 'sixteen bytes ok' }));
    await c.request('/head-stale');
    c.advance(11_000);
    const r = await c.request('/head-stale', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-length'], '16');
    assert.equal(r.body, '');
  });
});
