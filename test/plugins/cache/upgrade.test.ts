// Upgrade requests (WebSocket and others) are connections, not cacheable exchanges: the
// cache neither answers them, nor makes them wait behind another request, nor stores
// what the server says to them.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { startCache, versioned, type CacheFixture } from './fixture.ts';

interface Upgraded {
  status: number;
  headers: http.IncomingHttpHeaders;
  socket?: Duplex;
}

describe('cache: upgrade requests bypass the cache', () => {
  let c: CacheFixture;
  const tunnels: Duplex[] = [];
  before(async () => {
    // The origin switches protocols on every path but /declined, where it answers an ordinary, cacheable 200.
    c = await startCache(
      {},
      {
        upgrade: (req: http.IncomingMessage, socket: Duplex) => {
          if (req.url === '/declined') {
            socket.end('HTTP/1.1 200 OK\r\ncache-control: max-age=60\r\ncontent-length: 8\r\nconnection: close\r\n\r\ndeclined');
            return;
          }
          socket.write('HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\n\r\n');
          socket.pipe(socket);
          tunnels.push(socket);
        },
      },
    );
  });
  after(async () => {
    for (const s of tunnels) s.destroy();
    await c.close();
  });

  const upgrade = (path: string) =>
    new Promise<Upgraded>((resolve, reject) => {
      const req = http.request(c.gw.url(path), { headers: { connection: 'upgrade', upgrade: 'echo' } });
      req.on('upgrade', (res, socket) => {
        tunnels.push(socket);
        resolve({ status: res.statusCode!, headers: res.headers, socket });
      });
      req.on('response', (res) => {
        res.resume();
        resolve({ status: res.statusCode!, headers: res.headers });
      });
      req.on('error', reject);
      req.end();
    });
  const echo = (socket: Duplex, text: string) =>
    new Promise<string>((resolve) => {
      socket.once('data', (d: Buffer) => resolve(d.toString()));
      socket.write(text);
    });

  it('a stored response does not answer an upgrade: it reaches the server and switches', async () => {
    c.routes.set('/ws', versioned({ 'cache-control': 'max-age=60' }));
    await c.request('/ws');
    assert.equal((await c.request('/ws')).headers['x-cache'], 'HIT');
    const up = await upgrade('/ws');
    assert.equal(up.status, 101);
    assert.equal(up.headers['x-cache'], undefined);
    assert.equal(await echo(up.socket!, 'ping'), 'ping');
    assert.equal((await c.request('/ws')).headers['x-cache'], 'HIT', 'the stored response is still there');
  });

  it('an upgrade does not wait behind a miss in flight for the same URL (no coalescing)', async () => {
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    c.routes.set('/held', (req, res) => {
      req.resume();
      void held.then(() => res.writeHead(200, { 'cache-control': 'max-age=60' }).end('held'));
    });
    const miss = c.request('/held');
    while (c.seen('/held').length === 0) await new Promise((r) => setTimeout(r, 5));
    const up = await upgrade('/held');
    assert.equal(up.status, 101, 'switched while the GET is still waiting for its response');
    release();
    assert.equal((await miss).body, 'held');
  });

  it('what the server answers to an upgrade is not stored, even when cacheable', async () => {
    const declined = await upgrade('/declined');
    assert.equal(declined.status, 200);
    assert.equal(declined.headers['x-cache'], undefined);
    c.routes.set('/declined', versioned({ 'cache-control': 'max-age=60' }));
    const plain = await c.request('/declined');
    assert.equal(plain.headers['x-cache'], 'MISS');
    assert.equal(plain.body, 'v1');
  });
});
