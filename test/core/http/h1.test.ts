// The raw HTTP/1.x server side (core/http/h1/) and the HTTP/1.1 pool to servers
// (core/upstream/h1-pool.ts): what node:http and undici did for the gateway before.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { rawExchange, startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';

/** Opens a connection, sends `bytes`, and resolves with what arrived once `done(text)` says so (or the connection closed). */
function converse(port: number, bytes: string, done: (got: string) => boolean): Promise<{ got: string; socket: net.Socket }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let got = '';
    socket.setEncoding('latin1');
    const finish = () => resolve({ got, socket });
    socket.on('data', (d: string) => {
      got += d;
      if (done(got)) finish();
    });
    socket.on('close', finish);
    socket.on('error', reject);
  });
}

const count = (text: string, what: RegExp) => (text.match(what) ?? []).length;

describe('HTTP/1.x server side on raw sockets', () => {
  let origin: TestOrigin, gw: TestGateway;

  before(async () => {
    origin = await startOrigin('o', (req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('slow'), 50);
      if (req.url === '/stream') {
        // No length: the gateway frames it (chunked for 1.1 clients, close-delimited for 1.0).
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('part1 ');
        return void setImmediate(() => res.end('part2'));
      }
      if (req.url === '/trailers') {
        res.writeHead(200, { 'transfer-encoding': 'chunked', trailer: 'x-checksum' });
        res.write('body');
        res.addTrailers({ 'x-checksum': 'abc123' });
        return void res.end();
      }
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => res.end(`${req.method} ${req.url} ${n}`));
    });
    gw = await startGateway(
      {
        frontends: {
          web: { bind: '127.0.0.1:0', default_backend: 'app', timeouts: { keepalive: '300ms' }, plugins: ['./splitter.ts'] },
        },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      {
        // A plugin setting a header with CR LF in it (response splitting) on one path, and parts of the request to the server on others.
        'splitter.ts': `import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'splitter', setup(api) {
  api.hooks.http.upstreamResponse.tap(api.name, (ctx, res) => { if (ctx.path === '/split') res.headers['x-evil'] = 'a\\r\\nset-cookie: pwned=1'; });
  api.hooks.http.upstreamRequest.tap(api.name, (ctx) => {
    const up = ctx.upstream!;
    if (ctx.path === '/smuggle-value') up.headers['x-evil'] = 'a\\r\\ncontent-length: 5';
    if (ctx.path === '/smuggle-name') up.headers['x-evil: a\\r\\ncontent-length'] = '5';
    if (ctx.path === '/smuggle-path') up.path = '/a HTTP/1.1\\r\\nHost: x\\r\\n\\r\\nGET /b';
    if (ctx.path === '/smuggle-method') up.method = 'GET /a HTTP/1.1\\r\\n';
  });
}});`,
      },
    );
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('answers pipelined requests in order on one connection, the slow one first', async () => {
    const { got, socket } = await converse(
      gw.port(),
      'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello',
      (t) => t.includes('POST /b 5'),
    );
    socket.destroy();
    assert.equal(count(got, /HTTP\/1\.1 200 OK/g), 3);
    const order = ['slow', 'GET /a 0', 'POST /b 5'].map((s) => got.indexOf(s));
    assert.ok(order[0]! < order[1]! && order[1]! < order[2]!, got);
  });

  it('frames a body of unknown length as chunked for HTTP/1.1 and by closing for HTTP/1.0; HEAD gets no body', async () => {
    const chunked = await rawExchange(gw.port(), 'GET /stream HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(chunked, /transfer-encoding: chunked\r\n/);
    assert.match(chunked, /\r\n\r\n6\r\npart1 \r\n5\r\npart2\r\n0\r\n\r\n$/);
    const old = await rawExchange(gw.port(), 'GET /stream HTTP/1.0\r\n\r\n');
    assert.doesNotMatch(old, /transfer-encoding/);
    assert.match(old, /connection: close\r\n/);
    assert.match(old, /\r\n\r\npart1 part2$/);
    const head = await rawExchange(gw.port(), 'HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(head, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head, /\r\n\r\n$/);
  });

  it('keeps an HTTP/1.0 connection open only when asked, and says so', async () => {
    const { got, socket } = await converse(gw.port(), 'GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', (t) => t.includes('GET /a 0'));
    assert.match(got, /connection: keep-alive\r\n/);
    socket.write('GET /b HTTP/1.0\r\n\r\n');
    await once(socket, 'close');
  });

  it('passes trailers of a chunked answer to an HTTP/1.1 client', async () => {
    const got = await rawExchange(gw.port(), 'GET /trailers HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(got, /\r\n0\r\nx-checksum: abc123\r\n\r\n$/);
  });

  it('says 100 Continue to a client that expects it, refuses other expectations with 417, CONNECT with 405', async () => {
    const { got, socket } = await converse(gw.port(), 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n', (t) =>
      t.includes('100 Continue'),
    );
    assert.match(got, /^HTTP\/1\.1 100 Continue\r\n\r\n/);
    socket.write('data');
    await new Promise<void>((resolve) =>
      socket.on('data', () => got.includes('POST /up 4') && resolve()).on('data', (d: string) => d.includes('POST /up 4') && resolve()),
    );
    socket.destroy();
    assert.match(await rawExchange(gw.port(), 'POST /up HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nExpect: magic\r\n\r\ndata'), /^HTTP\/1\.1 417 /);
    assert.match(await rawExchange(gw.port(), 'CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n'), /^HTTP\/1\.1 405 /);
  });

  it('closes a keep-alive connection idle longer than timeouts.keepalive', async () => {
    const { socket } = await converse(gw.port(), 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n', (t) => t.includes('GET /a 0'));
    const opened = performance.now();
    await once(socket, 'close');
    const idle = performance.now() - opened;
    assert.ok(idle >= 250 && idle < 3000, `closed after ${idle} ms`);
  });

  it('never writes a header value with CR or LF (response splitting): the request fails, the gateway serves on', async () => {
    const got = await rawExchange(gw.port(), 'GET /split HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.doesNotMatch(got, /pwned/);
    assert.match(got, /^HTTP\/1\.1 5\d\d /);
    assert.match(await rawExchange(gw.port(), 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /GET \/a 0$/);
  });

  it('never sends a server a head a plugin broke (CR or LF in a value, a name, the path or the method): the request fails, the gateway serves on', async () => {
    for (const path of ['/smuggle-value', '/smuggle-name', '/smuggle-path', '/smuggle-method']) {
      const got = await rawExchange(gw.port(), `GET ${path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(got, /^HTTP\/1\.1 502 /, path);
    }
    assert.match(await rawExchange(gw.port(), 'GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /GET \/a 0$/);
  });
});

describe('HTTP/1.1 pool to servers', () => {
  it('reuses connections, and a reused connection the server has closed meanwhile costs no failure', async () => {
    const origin = await startOrigin('o');
    // A server that closes every connection right after answering, without saying so (no Connection: close).
    const rude = net.createServer((socket) => {
      socket.once('data', () => socket.end('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nrude'));
    });
    rude.listen(0, '127.0.0.1');
    await once(rude, 'listening');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' }, other: { bind: '127.0.0.1:0', default_backend: 'rude' } },
      backends: {
        app: { servers: [{ name: 'o', address: origin.address }] },
        rude: { servers: [{ name: 'r', address: `127.0.0.1:${(rude.address() as net.AddressInfo).port}` }] },
      },
    });
    try {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; i < 5; i++) {
        const res = await fetchText(gw.url('/x'), agent);
        assert.equal(res, 'o');
      }
      assert.equal(origin.connections, 1);
      for (let i = 0; i < 5; i++) assert.equal(await fetchText(gw.url('/x', 'other'), agent), 'rude');
      agent.destroy();
    } finally {
      await gw.close();
      await origin.close();
      rude.close();
    }
  });

  it('passes a response delimited by the end of the connection whole', async () => {
    const big = 'x'.repeat(200_000);
    const eof = net.createServer((socket) => socket.once('data', () => socket.end(`HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n${big}`)));
    eof.listen(0, '127.0.0.1');
    await once(eof, 'listening');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'eof' } },
      backends: { eof: { servers: [{ name: 'e', address: `127.0.0.1:${(eof.address() as net.AddressInfo).port}` }] } },
    });
    try {
      assert.equal((await fetchText(gw.url('/'))).length, big.length);
    } finally {
      await gw.close();
      eof.close();
    }
  });
});

function fetchText(url: string, agent?: http.Agent): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

describe('HTTP/1.x request lines and targets, strictly', () => {
  let origin: TestOrigin, gw: TestGateway;
  before(async () => {
    // Echoes what it was sent: the target and the headers.
    origin = await startOrigin('echo', (req, res) => {
      req.resume();
      req.on('end', () => res.end(JSON.stringify({ url: req.url, host: req.headers.host, forwardedHost: req.headers['x-forwarded-host'] })));
    });
    gw = await startGateway({
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          timeouts: { client_headers: '5s' },
          routes: [{ name: 'admin', match: { path: '/admin' }, plugins: [{ use: 'respond', options: { status: 403, body: 'no' } }] }],
        },
      },
      backends: { app: { servers: [{ name: 'echo', address: origin.address }] } },
    });
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  const bodyOf = (reply: string) => JSON.parse(reply.slice(reply.indexOf('\r\n\r\n') + 4)) as { url: string; host: string; forwardedHost: string };

  it('refuses an HTTP/0.9 request line with 400 at once, not after the head timeout', async () => {
    for (const line of ['GET /\r\n', 'GET /\n', '\r\nGET /index.html\r\n']) {
      const t0 = performance.now();
      const reply = await rawExchange(gw.port(), line, 4000);
      assert.match(reply, /^HTTP\/1\.1 400 /, JSON.stringify(line));
      assert.ok(performance.now() - t0 < 1000, `${JSON.stringify(line)} answered in ${Math.round(performance.now() - t0)} ms`);
    }
    assert.equal(origin.requests.length, 0);
  });

  it('answers 505 to a version other than 1.0 and 1.1 on an HTTP/1 connection, and never passes it on', async () => {
    assert.match(await rawExchange(gw.port(), 'GET / HTTP/2.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 505 /);
    // llhttp knows no version past 2.0: malformed to it.
    assert.match(await rawExchange(gw.port(), 'GET / HTTP/3.0\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.equal(origin.requests.length, 0);
  });

  it('takes the Host of an absolute-form target from its authority and sends the server the origin form', async () => {
    const r = bodyOf(await rawExchange(gw.port(), 'GET http://Example.COM:8080/a/b?q=1 HTTP/1.1\r\nHost: other.example\r\nConnection: close\r\n\r\n'));
    assert.deepEqual(r, { url: '/a/b?q=1', host: 'example.com:8080', forwardedHost: 'example.com:8080' });
    assert.deepEqual(bodyOf(await rawExchange(gw.port(), 'GET http://h.example HTTP/1.1\r\nHost:\r\nConnection: close\r\n\r\n')), {
      url: '/',
      host: 'h.example',
      forwardedHost: 'h.example',
    });
    assert.deepEqual(bodyOf(await rawExchange(gw.port(), 'GET http://h.example?x HTTP/1.1\r\nHost: \r\nConnection: close\r\n\r\n')).url, '/?x');
  });

  it('takes the asterisk form from OPTIONS alone', async () => {
    assert.match(await rawExchange(gw.port(), 'GET * HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1\.1 400 /);
    assert.deepEqual(bodyOf(await rawExchange(gw.port(), 'OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).url, '*');
  });

  it('refuses a Host that is not uri-host[:port] (RFC 9112 3.2) with 400', async () => {
    const before = origin.requests.length;
    for (const host of ['a/b', 'u@x', 'exa mple.com', 'a?b', '[::1'])
      assert.match(await rawExchange(gw.port(), `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`), /^HTTP\/1\.1 400 /, host);
    assert.equal(origin.requests.length, before);
    for (const host of ['a.example', 'a.example:8080', '[::1]:80', '127.0.0.1', ''])
      assert.doesNotMatch(await rawExchange(gw.port(), `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`), /^HTTP\/1\.1 400 /, host);
  });

  it('refuses a Transfer-Encoding other than chunked with 400: chunked not last, twice, or after a coding it does not decode', async () => {
    const post = (te: string) => rawExchange(gw.port(), `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ${te}\r\n\r\n0\r\n\r\n`);
    for (const te of ['identity', 'chunked, chunked', 'gzip, chunked']) assert.match(await post(te), /^HTTP\/1\.1 400 /, te);
    assert.match(await post('Chunked'), /^HTTP\/1\.1 200 /);
  });

  it('answers a HEAD request it cannot parse with a 400 that has no body', async () => {
    const reply = await rawExchange(gw.port(), 'HEAD / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n');
    assert.match(reply, /^HTTP\/1\.1 400 /);
    assert.ok(reply.endsWith('\r\n\r\n'), JSON.stringify(reply));
    // The same when the method arrives in pieces.
    const split = await new Promise<string>((resolve) => {
      const socket = net.connect(gw.port(), '127.0.0.1', () => {
        socket.write('HE');
        setTimeout(() => socket.write('AD / HTTP/1.1\nHost: x\n\n'), 20);
      });
      let got = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (got += d));
      socket.on('close', () => resolve(got));
    });
    assert.match(split, /^HTTP\/1\.1 400 /);
    assert.ok(split.endsWith('\r\n\r\n'), JSON.stringify(split));
    // Behind a request in hand, the refusal of bytes that do not parse says content-length: 0, right whatever their method was.
    const pipelined = await rawExchange(gw.port(), 'GET /a HTTP/1.1\r\nHost: x\r\n\r\nHEAD / HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n');
    assert.match(pipelined, /\}HTTP\/1\.1 400 Bad Request\r\ncontent-length: 0\r\n/);
    assert.ok(pipelined.endsWith('\r\n\r\n'), JSON.stringify(pipelined));
  });

  it('routes an absolute-form target by its path: a path rule cannot be gone around', async () => {
    assert.match(await rawExchange(gw.port(), 'GET http://x/admin HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1\.1 403 /);
  });

  it('refuses an absolute-form target with no authority, with userinfo, or any other form of target, with 400', async () => {
    const before = origin.requests.length;
    for (const target of ['http:///x', 'http://user:pw@h.example/', 'https://', 'ftp://h.example/', 'h.example/x', 'x']) {
      assert.match(await rawExchange(gw.port(), `GET ${target} HTTP/1.1\r\nHost: h.example\r\n\r\n`), /^HTTP\/1\.1 400 /, target);
    }
    // The target's authority replaces Host, but HTTP/1.1 still requires one, once, and valid (RFC 9112 3.2).
    for (const fields of ['', 'Host: a\r\nHost: b\r\n', 'Host: a/b\r\n']) {
      assert.match(await rawExchange(gw.port(), `GET http://h.example/ HTTP/1.1\r\n${fields}\r\n`), /^HTTP\/1\.1 400 /, JSON.stringify(fields));
    }
    assert.equal(origin.requests.length, before);
  });
});

describe('HTTP/1.x connections kept alive for many requests', () => {
  it('leaves no listener behind per request on either connection (no MaxListenersExceededWarning), with the cache on', async () => {
    const origin = await startOrigin('o', (req, res) => {
      req.resume();
      req.on('end', () => res.end(`${req.method} ${req.url}`));
    });
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'cache', options: {} }] } },
      backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
    });
    const warnings: Error[] = [];
    const onWarning = (w: Error) => void (w.name === 'MaxListenersExceededWarning' && warnings.push(w));
    process.on('warning', onWarning);
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (let i = 0; i < 30; i++) {
        const method = i % 2 ? 'POST' : 'GET';
        const status = await new Promise<number>((resolve, reject) => {
          const req = http.request(gw.url(`/r${i % 3}`), { method, agent }, (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode!));
          });
          req.on('error', reject);
          req.end(method === 'POST' ? 'some body' : undefined);
        });
        assert.equal(status, 200);
      }
      // A warning is emitted on the next tick of the listener that crossed the line.
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(
        warnings.map((w) => w.message),
        [],
      );
      assert.equal(origin.connections, 1, 'one kept-alive connection to the server carried every request');
    } finally {
      process.off('warning', onWarning);
      agent.destroy();
      await gw.close();
      await origin.close();
    }
  });
});
