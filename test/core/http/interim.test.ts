// Interim responses: a server's 103 Early Hints and its own 100 Continue reach HTTP/1.1
// and HTTP/2 clients before the final response, never HTTP/1.0 ones, and the cache stores
// only the final response.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { rawExchange, startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';

const preload = '</style.css>; rel=preload; as=style';

describe('interim responses', () => {
  let origin: TestOrigin;
  let h2origin: http2.Http2Server;
  let gw: TestGateway;
  let served = 0;

  before(async () => {
    origin = await startOrigin('origin', (req: http.IncomingMessage, res: http.ServerResponse) => {
      req.resume();
      served++;
      if (req.url === '/continue') res.writeContinue();
      else res.writeEarlyHints({ link: preload, 'x-hint': 'early' });
      res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' });
      res.end(`final ${req.url}`);
    });
    h2origin = http2.createServer();
    h2origin.on('stream', (stream) => {
      stream.additionalHeaders({ ':status': 103, link: preload });
      stream.respond({ ':status': 200, 'content-type': 'text/plain' });
      stream.end('final over h2');
    });
    await new Promise<void>((r) => h2origin.listen(0, '127.0.0.1', r));
    const h2port = (h2origin.address() as { port: number }).port;
    gw = await startGateway({
      frontends: {
        web: { bind: '127.0.0.1:0', default_backend: 'app', h2c: true, routes: [{ match: { path: '/h2' }, backend: 'h2app' }] },
        cached: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['cache'] },
      },
      backends: {
        app: { servers: [{ name: 'o', address: origin.address }] },
        h2app: { protocol: 'h2', servers: [{ name: 'h', address: `127.0.0.1:${h2port}` }] },
      },
    });
  });
  after(async () => {
    await gw?.close();
    await origin?.close();
    h2origin?.close();
  });

  it('HTTP/1.1: a 103 Early Hints comes before the final response, its fields as the server sent them', async () => {
    const out = await rawExchange(gw.port('web'), 'GET /page HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 103 Early Hints\r\n/);
    const interim = out.slice(0, out.indexOf('\r\n\r\n'));
    assert.match(interim, new RegExp(`\\r\\nlink: ${preload.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`, 'i'));
    assert.match(interim, /\r\nx-hint: early/i);
    const final = out.slice(out.indexOf('\r\n\r\n') + 4);
    assert.match(final, /^HTTP\/1\.1 200 OK\r\n/);
    assert.ok(final.includes('final /page'), final);
  });

  it("HTTP/1.1: a server's own 100 Continue is passed on too", async () => {
    const out = await rawExchange(gw.port('web'), 'GET /continue HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  });

  it('HTTP/1.0: no interim response, only the final one', async () => {
    const out = await rawExchange(gw.port('web'), 'GET /old HTTP/1.0\r\nHost: x\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 OK\r\n/);
    assert.doesNotMatch(out, /103|Early Hints/);
  });

  it('HTTP/2 client: the 103 arrives as an informational HEADERS frame before the response; from an h2 server too', async () => {
    const client = http2.connect(`http://127.0.0.1:${gw.port('web')}`);
    try {
      for (const path of ['/page2', '/h2']) {
        const stream = client.request({ ':path': path, ':method': 'GET' });
        const informational: http2.IncomingHttpHeaders[] = [];
        stream.on('headers', (h) => informational.push(h));
        const response = await new Promise<http2.IncomingHttpHeaders>((resolve, reject) => stream.once('response', resolve).once('error', reject));
        let body = '';
        stream.setEncoding('utf8').on('data', (d: string) => (body += d));
        await new Promise((r) => stream.once('end', r));
        assert.equal(informational.length, 1, `${path}: ${JSON.stringify(informational)}`);
        assert.equal(informational[0]![':status'], 103);
        assert.equal(informational[0]!.link, preload);
        assert.equal(response[':status'], 200);
        assert.equal(body, path === '/h2' ? 'final over h2' : 'final /page2');
      }
    } finally {
      client.close();
    }
  });

  it('the cache stores the final response only: a hit answers 200 with its body and no interim response', async () => {
    const before = served;
    const first = await rawExchange(gw.port('cached'), 'GET /kept HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(first, /^HTTP\/1\.1 103 Early Hints\r\n/);
    const hit = await rawExchange(gw.port('cached'), 'GET /kept HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(hit, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(hit, /\r\nx-cache: HIT\r\n/i);
    assert.ok(hit.includes('final /kept'), hit);
    assert.equal(served, before + 1, 'the second request was served from the cache');
  });
});
