import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { answer, startCache, versioned, type CacheFixture } from './fixture.ts';

describe('cache: invalidation after unsafe methods', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  const stored = async (path: string) => {
    c.routes.set(path, versioned({ 'cache-control': 'max-age=60' }));
    await c.request(path);
    assert.equal((await c.request(path)).headers['x-cache'], 'HIT');
  };

  it('RFC 9111 4.4: a successful POST invalidates the stored responses of its URL', async () => {
    await stored('/item');
    c.routes.set(
      '/item',
      ((inner) => (req: Parameters<typeof inner>[0], res: Parameters<typeof inner>[1]) =>
        req.method === 'POST' ? answer(201, {})(req, res) : inner(req, res))(c.routes.get('/item')!),
    );
    assert.equal((await c.request('/item', { method: 'POST', body: 'x' })).status, 201);
    const after = await c.request('/item');
    assert.equal(after.headers['x-cache'], 'MISS');
    assert.equal(after.body, 'v2');
  });

  it('RFC 9111 4.4: ...and the same-origin URLs in Location and Content-Location', async () => {
    await stored('/list');
    await stored('/created');
    await stored('/elsewhere');
    c.routes.set('/create', answer(303, { location: '/created', 'content-location': `http://127.0.0.1:${c.gw.port()}/list` }));
    await c.request('/create', { method: 'POST', body: 'x' });
    assert.equal((await c.request('/created')).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/list')).headers['x-cache'], 'MISS');
    assert.equal((await c.request('/elsewhere')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 4.4: a Location on another origin is not invalidated', async () => {
    await stored('/other');
    c.routes.set('/moved', answer(201, { location: 'http://other.example/other' }));
    await c.request('/moved', { method: 'PUT', body: 'x' });
    assert.equal((await c.request('/other')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 4.4: an error response to DELETE invalidates nothing', async () => {
    await stored('/keep');
    c.routes.set(
      '/keep',
      ((inner) => (req: Parameters<typeof inner>[0], res: Parameters<typeof inner>[1]) =>
        req.method === 'DELETE' ? answer(409, {})(req, res) : inner(req, res))(c.routes.get('/keep')!),
    );
    assert.equal((await c.request('/keep', { method: 'DELETE' })).status, 409);
    assert.equal((await c.request('/keep')).headers['x-cache'], 'HIT');
  });

  it('RFC 9111 4.4: invalidation removes every Vary variant of the URL', async () => {
    c.routes.set('/variants', (req, res) => {
      req.resume();
      if (req.method === 'POST') return void res.writeHead(204).end();
      res.writeHead(200, { 'cache-control': 'max-age=60', vary: 'accept' }).end(String(req.headers.accept));
    });
    for (const accept of ['a/a', 'b/b']) await c.request('/variants', { headers: { accept } });
    await c.request('/variants', { method: 'POST', body: '' });
    for (const accept of ['a/a', 'b/b']) assert.equal((await c.request('/variants', { headers: { accept } })).headers['x-cache'], 'MISS');
  });
});
