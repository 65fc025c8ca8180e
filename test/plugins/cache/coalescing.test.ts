import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import type http from 'node:http';
import { startCache, type CacheFixture } from './fixture.ts';

describe('cache: request coalescing', () => {
  let c: CacheFixture;
  before(async () => (c = await startCache()));
  after(() => c.close());

  /** Resolves once `n` requests for `path` reached the gateway. */
  const arrived = (path: string, n: number) =>
    new Promise<void>((resolve) => {
      let seen = 0;
      const on = (p: string) => {
        if (p === path && ++seen === n) {
          c.events.off('request', on);
          resolve();
        }
      };
      c.events.on('request', on);
    });

  /** An origin answer held until `gate` resolves. */
  const held = (gate: Promise<void>, headers: Record<string, string>) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    void gate.then(() => res.writeHead(200, headers).end('shared'));
  };

  it('RFC 9111 4 (collapsed requests): 100 concurrent misses for one URL make one server request', async () => {
    const all = arrived('/hot', 100);
    c.routes.set('/hot', held(all, { 'cache-control': 'max-age=60' }));
    const replies = await Promise.all(Array.from({ length: 100 }, () => c.request('/hot')));
    assert.equal(c.seen('/hot').length, 1);
    assert.ok(replies.every((r) => r.status === 200 && r.body === 'shared'));
    assert.equal(replies.filter((r) => r.headers['x-cache'] === 'MISS').length, 1);
    assert.equal(replies.filter((r) => r.headers['x-cache'] === 'HIT').length, 99);
  });

  it('RFC 9111 4 (collapsed requests): when the response is not storable, the waiting requests go to the server themselves', async () => {
    const all = arrived('/uncacheable', 10);
    c.routes.set('/uncacheable', held(all, { 'cache-control': 'no-store' }));
    const replies = await Promise.all(Array.from({ length: 10 }, () => c.request('/uncacheable')));
    assert.equal(c.seen('/uncacheable').length, 10);
    assert.ok(replies.every((r) => r.status === 200 && r.headers['x-cache'] === 'MISS'));
  });

  it('RFC 9111 4 (collapsed requests): requests with Authorization are not made to wait on others', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    c.routes.set('/private-ish', (req, res) => {
      req.resume();
      if (req.headers.authorization) return void res.writeHead(200, { 'cache-control': 'max-age=60' }).end('auth');
      void gate.then(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('anon'));
    });
    const anonymous = c.request('/private-ish');
    await once(c.events, 'request');
    const withAuth = await c.request('/private-ish', { headers: { authorization: 'Bearer x' } });
    assert.equal(withAuth.body, 'auth');
    release();
    assert.equal((await anonymous).body, 'anon');
  });
});
