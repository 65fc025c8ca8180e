// HTTP/2 from clients (TLS with ALPN, and cleartext with prior knowledge), through the same
// lifecycle as HTTP/1.1: bodies both ways, per-request balancing of one connection's streams,
// the plugin chain, trailers, rapid-reset protection and GOAWAY when a generation drains.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import tls from 'node:tls';
import pino from 'pino';
import { setImmediate as tick } from 'node:timers/promises';
import { writeFileSync } from 'node:fs';
import { stringify } from 'yaml';
import { startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { testPki } from '../tls/pki.ts';
import { checkConfig } from '../../../core/config/check.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';

const pki = testPki();
const MiB = 1024 * 1024;
const big = Buffer.alloc(5 * MiB, 'tapgate h2 ');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
/** A body of its own for each seed: its size (1 byte to about 150 KiB) and bytes differ from every other seed's. */
const seeded = (seed: number) => Buffer.alloc(1 + ((seed * 7919) % (150 * 1024)), `${seed};`);

interface Answer {
  status: number;
  headers: http2.IncomingHttpHeaders;
  body: Buffer;
  trailers: http2.IncomingHttpHeaders | undefined;
}

/** One request on an HTTP/2 session; `body` is sent in 64 KiB writes (flow control applies). */
function request(session: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders, body?: Buffer): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': body ? 'POST' : 'GET', ...headers }, { endStream: !body });
    const chunks: Buffer[] = [];
    let head: http2.IncomingHttpHeaders = {};
    let trailers: http2.IncomingHttpHeaders | undefined;
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (t) => (trailers = t));
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      if (head[':status'] === undefined)
        reject(
          new Error(
            `stream ${stream.id} ended without a response (rst ${stream.rstCode}, session ${session.destroyed ? 'destroyed' : session.closed ? 'closed' : 'open'})`,
          ),
        );
      else resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks), trailers });
    });
    stream.on('error', reject);
    if (body) {
      let at = 0;
      const more = () => {
        while (at < body.length) {
          const chunk = body.subarray(at, (at += 64 * 1024));
          if (!stream.write(chunk)) return void stream.once('drain', more);
        }
        stream.end();
      };
      more();
    }
  });
}

/** An origin answering GET /big with 5 MiB, POST with the size and hash of what it read, and the rest with its name. */
function bodyOrigin(name: string): Promise<TestOrigin> {
  return startOrigin(name, (req, res) => {
    if (req.url === '/big') {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'x-origin': name });
      return void res.end(big);
    }
    if (req.url?.startsWith('/seeded/')) {
      const body = seeded(Number(req.url.slice('/seeded/'.length)));
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length, 'x-origin': name });
      return void res.end(body);
    }
    const hash = createHash('sha256');
    let bytes = 0;
    req.on('data', (c: Buffer) => {
      bytes += c.length;
      hash.update(c);
    });
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': name });
      res.end(JSON.stringify({ name, bytes, sha: hash.digest('hex'), version: req.httpVersion, host: req.headers.host }));
    });
  });
}

const seen: string[] = [];
(globalThis as { __tapgateH2Seen?: string[] }).__tapgateH2Seen = seen;

/** Records each hook a request passes, with the version the plugin is told. */
const recorder = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'h2-recorder', version: '1.0.0', setup(api) {
  const note = (hook) => (ctx) => { if (ctx.headers['x-probe']) globalThis.__tapgateH2Seen.push(ctx.headers['x-probe'] + ' ' + hook + ' ' + ctx.httpVersion); };
  api.hooks.http.received.tap(api.name, note('received'));
  api.hooks.http.request.tap(api.name, note('request'));
  api.hooks.http.upstreamRequest.tap(api.name, note('upstreamRequest'));
  api.hooks.http.upstreamResponse.tap(api.name, (ctx) => note('upstreamResponse')(ctx));
  api.hooks.http.responseSent.tap(api.name, note('responseSent'));
}});`;

const connectTls = (port: number) =>
  http2.connect(`https://127.0.0.1:${port}`, { ca: pki.ca.cert, servername: 'a.test', checkServerIdentity: () => undefined });

describe('HTTP/2 from clients', () => {
  let a: TestOrigin, b: TestOrigin, gw: TestGateway;

  before(async () => {
    [a, b] = await Promise.all([bodyOrigin('a'), bodyOrigin('b')]);
    gw = await startGateway(
      {
        frontends: {
          secure: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['./recorder.ts'], tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } },
          plain: { bind: '127.0.0.1:0', default_backend: 'app', h2c: true, plugins: ['./recorder.ts'] },
        },
        backends: {
          app: {
            balance: 'roundrobin',
            servers: [
              { name: 'a', address: a.address },
              { name: 'b', address: b.address },
            ],
          },
        },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key, 'recorder.ts': recorder },
    );
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close()]);
  });

  it('a TLS frontend agrees on h2 by ALPN and streams 5 MiB bodies both ways', async () => {
    const client = connectTls(gw.port('secure'));
    try {
      await once(client, 'connect');
      assert.equal((client.socket as unknown as { alpnProtocol: string }).alpnProtocol, 'h2');
      const down = await request(client, { ':path': '/big' });
      assert.equal(down.status, 200);
      assert.equal(down.body.length, big.length);
      assert.equal(sha(down.body), sha(big));
      const up = await request(client, { ':path': '/upload', 'content-type': 'application/octet-stream' }, big);
      assert.equal(up.status, 200);
      const told = JSON.parse(up.body.toString());
      assert.equal(told.bytes, big.length);
      assert.equal(told.sha, sha(big));
      // Upstream stays HTTP/1.1; :authority became Host.
      assert.equal(told.version, '1.1');
      assert.equal(told.host, `a.test:${gw.port('secure')}`);
    } finally {
      client.close();
    }
  });

  it('cleartext HTTP/2 with prior knowledge (h2c) and HTTP/1.1 share a port', async () => {
    const client = http2.connect(`http://127.0.0.1:${gw.port('plain')}`);
    try {
      const up = await request(client, { ':path': '/x', ':authority': 'app.test' }, Buffer.from('hello'));
      assert.equal(up.status, 200);
      assert.deepEqual(JSON.parse(up.body.toString()).host, 'app.test');
    } finally {
      client.close();
    }
    const h1 = await new Promise<string>((resolve, reject) => {
      http
        .get(`http://127.0.0.1:${gw.port('plain')}/y`, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(`${res.httpVersion} ${res.statusCode} ${JSON.parse(body).bytes}`));
        })
        .on('error', reject);
    });
    assert.equal(h1, '1.1 200 0');
  });

  it('50 concurrent streams on one connection are balanced across the servers per request', async () => {
    const client = http2.connect(`http://127.0.0.1:${gw.port('plain')}`);
    try {
      const answers = await Promise.all(Array.from({ length: 50 }, (_, i) => request(client, { ':path': `/n/${i}` })));
      assert.deepEqual(
        answers.filter((r) => r.status !== 200).map((r) => `${r.status} ${r.body}`),
        [],
      );
      const by = (name: string) => answers.filter((r) => r.headers['x-origin'] === name).length;
      assert.equal(by('a'), 25);
      assert.equal(by('b'), 25);
    } finally {
      client.close();
    }
  });

  it('a plugin sees the same hooks for HTTP/1.1 and HTTP/2 requests, and ctx.httpVersion says which', async () => {
    seen.length = 0;
    await new Promise<void>((resolve, reject) => {
      http.get(`http://127.0.0.1:${gw.port('plain')}/p`, { headers: { 'x-probe': 'h1' } }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    const client = http2.connect(`http://127.0.0.1:${gw.port('plain')}`);
    try {
      assert.equal((await request(client, { ':path': '/p', 'x-probe': 'h2' })).status, 200);
    } finally {
      client.close();
    }
    const of = (probe: string) => seen.filter((s) => s.startsWith(`${probe} `)).map((s) => s.split(' ').slice(1));
    const hooks = ['received', 'request', 'upstreamRequest', 'upstreamResponse', 'responseSent'];
    assert.deepEqual(
      of('h1').map(([hook]) => hook),
      hooks,
    );
    assert.deepEqual(
      of('h2').map(([hook]) => hook),
      hooks,
    );
    assert.ok(of('h1').every(([, v]) => v === '1.1'));
    assert.ok(of('h2').every(([, v]) => v === '2.0'));
  });

  it('response trailers of a chunked HTTP/1.1 answer reach an HTTP/2 client', async () => {
    const origin = await startOrigin('t', (req, res) => {
      req.resume();
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-digest' });
      res.write('part one, ');
      res.addTrailers({ 'x-digest': 'sha-256=abc' });
      res.end('part two');
    });
    const gw2 = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 't', h2c: true } },
      backends: { t: { servers: [{ name: 't', address: origin.address }] } },
    });
    const client = http2.connect(`http://127.0.0.1:${gw2.port()}`);
    try {
      const r = await request(client, { ':path': '/' });
      assert.equal(r.body.toString(), 'part one, part two');
      assert.equal(r.trailers?.['x-digest'], 'sha-256=abc');
    } finally {
      client.close();
      await gw2.close();
      await origin.close();
    }
  });
});

describe("HTTP/2 answers copied from the servers' reads", () => {
  let a: TestOrigin, gw: TestGateway;

  // No plugin: the servers' bodies go on raw, each copied out of the connection's read buffer
  // into a buffer that is reused once the client's session has sent it.
  before(async () => {
    a = await bodyOrigin('a');
    gw = await startGateway(
      {
        frontends: { secure: { bind: '127.0.0.1:0', default_backend: 'app', tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } } },
        backends: { app: { servers: [{ name: 'a', address: a.address }] } },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key },
    );
  });
  after(async () => {
    await gw.close();
    await a.close();
  });

  it('answers on 60 concurrent streams over TLS each arrive whole and unmixed (the read buffers they were copied into are reused)', async () => {
    const client = connectTls(gw.port('secure'));
    try {
      for (let round = 0; round < 3; round++) {
        const seeds = Array.from({ length: 60 }, (_, i) => round * 60 + i);
        const answers = await Promise.all(seeds.map((seed) => request(client, { ':path': `/seeded/${seed}` })));
        assert.deepEqual(
          answers.map((r, i) => `${r.status} ${sha(r.body) === sha(seeded(seeds[i]!)) ? 'same' : `differs (${r.body.length} bytes)`}`),
          seeds.map(() => '200 same'),
        );
      }
    } finally {
      client.close();
    }
  });
});

describe('HTTP/2 to servers (protocol: h2)', () => {
  let origin: http2.Http2Server;
  let port: number;
  const requests: http2.IncomingHttpHeaders[] = [];
  let sessions = 0;

  before(async () => {
    origin = http2.createServer();
    origin.on('session', () => sessions++);
    origin.on('stream', (stream, headers) => {
      requests.push(headers);
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'text/plain' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'x-bytes': String(Buffer.concat(chunks).length) }));
        stream.end(`h2 origin saw ${headers[':method']} ${headers[':path']}`);
      });
    });
    await new Promise<void>((resolve) => origin.listen(0, '127.0.0.1', resolve));
    port = (origin.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => origin.close(() => resolve())));

  it('streams and trailers pass end to end, HTTP/1.1 and HTTP/2 clients alike, over few server connections', async () => {
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'h2', h2c: true } },
      backends: { h2: { protocol: 'h2', servers: [{ name: 'o', address: `127.0.0.1:${port}` }] } },
    });
    const client = http2.connect(`http://127.0.0.1:${gw.port()}`);
    try {
      const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => request(client, { ':path': `/s/${i}` }, Buffer.alloc(100_000 + i))));
      answers.forEach((r, i) => {
        assert.equal(r.status, 200);
        assert.equal(r.body.toString(), `h2 origin saw POST /s/${i}`);
        assert.equal(r.trailers?.['x-bytes'], String(100_000 + i));
      });
      assert.ok(requests.every((h) => h.connection === undefined && h[':authority'] === `127.0.0.1:${gw.port()}`));
      assert.equal(sessions, 1, 'one session to the server carries every stream');
      const h1 = await new Promise<string>((resolve, reject) => {
        http
          .get(`http://127.0.0.1:${gw.port()}/from-h1`, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => resolve(body));
          })
          .on('error', reject);
      });
      assert.equal(h1, 'h2 origin saw GET /from-h1');
    } finally {
      client.close();
      await gw.close();
    }
  });
});

describe('HTTP/2 limits', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  before(async () => {
    origin = await startOrigin('o');
    gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true, limits: { h2_max_resets_per_second: 50, max_body_size: '64k' } } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('a client resetting streams in a loop (rapid reset) is cut off, and a well-behaved client on another connection keeps its answers', async () => {
    const attacker = http2.connect(`http://127.0.0.1:${gw.port()}`);
    attacker.on('error', () => undefined);
    let goaway: number | undefined;
    attacker.on('goaway', (code: number) => (goaway = code));
    await once(attacker, 'connect');
    const good = http2.connect(`http://127.0.0.1:${gw.port()}`);
    const answered: number[] = [];
    let sent = 0;
    try {
      // Bounded: 200 rounds of 10 cancelled streams, each round followed by one request of the good client.
      for (let round = 0; round < 200 && !attacker.closed && !attacker.destroyed; round++) {
        for (let i = 0; i < 10; i++) {
          try {
            const s = attacker.request({ ':path': '/attack' });
            s.on('error', () => undefined);
            s.close(http2.constants.NGHTTP2_CANCEL);
            sent++;
          } catch {
            break;
          }
        }
        answered.push((await request(good, { ':path': `/good/${round}` })).status);
        await tick();
      }
      if (!attacker.destroyed) await once(attacker, 'close');
      assert.equal(goaway, http2.constants.NGHTTP2_ENHANCE_YOUR_CALM);
      assert.ok(sent < 500, `the attacker sent ${sent} streams before it was cut off`);
      assert.ok(answered.length > 0 && answered.every((s) => s === 200), `the good client got ${answered.join(',')}`);
      // And it still does afterwards.
      assert.equal((await request(good, { ':path': '/after' })).status, 200);
    } finally {
      good.close();
      attacker.destroy();
    }
  });

  it('a body over max_body_size gets 413, announced or not, and the connection keeps serving', async () => {
    const client = http2.connect(`http://127.0.0.1:${gw.port()}`);
    try {
      const announced = await request(client, { ':path': '/up', 'content-length': String(100_000) }, Buffer.alloc(100_000));
      assert.equal(announced.status, 413);
      const streamed = await request(client, { ':path': '/up' }, Buffer.alloc(200_000));
      assert.equal(streamed.status, 413);
      assert.equal((await request(client, { ':path': '/small' }, Buffer.alloc(1000))).status, 200);
    } finally {
      client.close();
    }
  });

  it('on an h2c port, a client that sends nothing is closed after timeouts.client_headers', async () => {
    const gw2 = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true, timeouts: { client_headers: '200ms' } } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
    try {
      const socket = net.connect(gw2.port(), '127.0.0.1');
      socket.on('error', () => undefined);
      const start = performance.now();
      await once(socket, 'close');
      const waited = performance.now() - start;
      assert.ok(waited >= 150 && waited < 5000, `closed after ${Math.round(waited)} ms`);
    } finally {
      await gw2.close();
    }
  });

  it('a client breaking the protocol on one stream (an unsolicited SETTINGS ACK, then HEADERS) costs the gateway nothing', async () => {
    // Found by the fuzz suite: a ServerHttp2Stream's 'error' (ERR_HTTP2_ERROR) had no listener and the process exited.
    const frames = Buffer.from(
      '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a00000c04000000000000030000006400040000ffff00003c01050000000100073a6d6574686f64034745540007' +
        '3a736368656d65046874747000053a70617468012f000a3a617574686f726974790b6578616d706c652e636f6d00000004010000000000000004010000000000003c010500' +
        '00000300073a6d6574686f640347455400073a736368656d65046874747000053a70617468012f000a3a617574686f726974790b6578616d706c652e636f6d',
      'hex',
    );
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const socket = net.connect(gw.port(), '127.0.0.1', () => socket.write(frames));
      socket.on('data', () => undefined);
      socket.on('error', () => undefined);
      await once(socket, 'close');
      const session = http2.connect(`http://127.0.0.1:${gw.port()}`);
      assert.equal((await request(session, { ':path': '/' })).status, 200);
      session.close();
      assert.deepEqual(
        uncaught.map((e) => e.message),
        [],
      );
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('a client opening more streams at once than allowed has the extra ones refused', async () => {
    const gw2 = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true, limits: { h2_max_concurrent_streams: 5 } } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
    const client = http2.connect(`http://127.0.0.1:${gw2.port()}`);
    try {
      await once(client, 'remoteSettings');
      assert.equal(client.remoteSettings.maxConcurrentStreams, 5);
      // node's client queues streams over the limit itself: all still get answers, 5 at a time.
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => request(client, { ':path': `/c/${i}` })));
      assert.ok(answers.every((r) => r.status === 200));
    } finally {
      client.close();
      await gw2.close();
    }
  });
});

/** An HTTP/2 frame: 9-byte head (length, type, flags, stream), then the payload. */
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream, 5);
  return Buffer.concat([head, payload]);
}

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

/** The frames in what a server sent on a connection, from its start. */
function framesIn(bytes: Buffer): Frame[] {
  const frames: Frame[] = [];
  for (let at = 0; at + 9 <= bytes.length; at += 9 + bytes.readUIntBE(at, 3)) {
    frames.push({
      type: bytes[at + 3]!,
      flags: bytes[at + 4]!,
      stream: bytes.readUInt32BE(at + 5) & 0x7fffffff,
      payload: bytes.subarray(at + 9, at + 9 + bytes.readUIntBE(at, 3)),
    });
  }
  return frames;
}

const FrameType = { HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, GOAWAY: 7, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
/** The client connection preface, then an empty SETTINGS frame. */
const clientPreface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(0))]);

describe('HTTP/2 against a CONTINUATION flood', () => {
  it('a client sending a header block that never ends is cut off, and others keep their answers', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
    const socket = net.connect(gw.port(), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined);
    const closed = once(socket, 'close');
    let sent = 0;
    try {
      await once(socket, 'connect');
      // Preface, empty SETTINGS, then HEADERS (GET / on stream 1) without END_HEADERS.
      socket.write(Buffer.concat([clientPreface, frame(FrameType.HEADERS, END_STREAM, 1, Buffer.from([0x82, 0x86, 0x84, 0x41, 0x01, 0x78]))]));
      // CONTINUATION frames (never END_HEADERS), each a 100-byte header field; bounded at 5000.
      const field = Buffer.concat([Buffer.from([0x00, 0x03]), Buffer.from('x-a'), Buffer.from([100]), Buffer.alloc(100, 'v')]);
      for (; sent < 5000 && !socket.destroyed && socket.writable; sent++) {
        if (!socket.write(frame(FrameType.CONTINUATION, 0, 1, field))) await Promise.race([once(socket, 'drain'), closed]);
        if (sent % 50 === 49) await tick();
      }
      await closed;
      // The gateway's answer: its SETTINGS, then GOAWAY.
      assert.ok(
        framesIn(Buffer.concat(received)).some((f) => f.type === FrameType.GOAWAY),
        'a GOAWAY frame before the connection closed',
      );
      assert.ok(sent < 5000, `the gateway read ${sent} CONTINUATION frames without closing`);
      const client = http2.connect(`http://127.0.0.1:${gw.port()}`);
      try {
        assert.equal((await request(client, { ':path': '/' })).status, 200);
      } finally {
        client.close();
      }
    } finally {
      socket.destroy();
      await gw.close();
      await origin.close();
    }
  });
});

/** `count` requests on streams first, first + 2..., each reset at once: HEADERS (END_STREAM), then RST_STREAM with `code`. */
function resetBurst(first: number, count: number, o: { method?: 'GET' | 'HEAD'; code?: number; scheme?: 'http' | 'https' } = {}): Buffer {
  // HPACK, no dynamic table: :method (GET indexed, HEAD a literal), :scheme, :path /, :authority a.test.
  const method = o.method === 'HEAD' ? Buffer.from([0x02, 4, ...Buffer.from('HEAD')]) : Buffer.from([0x82]);
  const block = Buffer.concat([method, Buffer.from([o.scheme === 'https' ? 0x87 : 0x86, 0x84, 0x01, 6, ...Buffer.from('a.test')])]);
  const code = Buffer.alloc(4);
  code.writeUInt32BE(o.code ?? http2.constants.NGHTTP2_CANCEL);
  const frames: Buffer[] = [];
  for (let i = 0; i < count; i++)
    frames.push(frame(FrameType.HEADERS, END_HEADERS | END_STREAM, first + 2 * i, block), frame(FrameType.RST_STREAM, 0, first + 2 * i, code));
  return Buffer.concat(frames);
}

describe('HTTP/2 rapid reset, frame by frame', () => {
  const keepalive = 5000;
  const limit = 50;
  let origin: TestOrigin;
  let gw: TestGateway;
  const logged: { level: number; msg: string }[] = [];
  /** Warnings logged so far for connections cut for rapid reset. */
  const cuts = () => logged.filter((l) => l.level === 40 && l.msg.includes('rapid reset')).length;

  before(async () => {
    origin = await startOrigin('o');
    const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const frontend = { bind: '127.0.0.1:0', default_backend: 'o', limits: { h2_max_resets_per_second: limit }, timeouts: { keepalive: `${keepalive}ms` } };
    gw = await startGateway(
      {
        frontends: { plain: { ...frontend, h2c: true }, secure: { ...frontend, tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } } },
        backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key },
      { logger },
    );
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  /**
   * A connection (h2c, or TLS with ALPN h2) resetting 1,000 streams: in the same write as
   * the preface (`firstRead`), or in 10 writes once the gateway's SETTINGS came. Returns
   * the codes of the GOAWAY frames it received and how long after its first reset the
   * gateway closed it (given up on after 3 keep-alive timeouts of silence).
   */
  async function rapidReset(o: { secure?: boolean; firstRead: boolean; method?: 'GET' | 'HEAD'; code?: number }): Promise<{ goaways: number[]; ms: number }> {
    const socket = o.secure
      ? tls.connect({
          port: gw.port('secure'),
          host: '127.0.0.1',
          ALPNProtocols: ['h2'],
          ca: pki.ca.cert,
          servername: 'a.test',
          checkServerIdentity: () => undefined,
        })
      : net.connect(gw.port('plain'), '127.0.0.1');
    const received: Buffer[] = [];
    socket.on('data', (d: Buffer) => received.push(d));
    socket.on('error', () => undefined); // a connection reset ends the reading, not the test
    socket.setTimeout(3 * keepalive, () => socket.destroy());
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    try {
      await once(socket, o.secure ? 'secureConnect' : 'connect');
      if (o.secure) assert.equal((socket as tls.TLSSocket).alpnProtocol, 'h2');
      const burst = (first: number, count: number) => resetBurst(first, count, { method: o.method, code: o.code, scheme: o.secure ? 'https' : 'http' });
      let start: number;
      if (o.firstRead) {
        start = performance.now();
        socket.write(Buffer.concat([clientPreface, burst(1, 1000)]));
      } else {
        socket.write(clientPreface);
        await once(socket, 'data'); // the gateway's SETTINGS: the session reads the socket now
        start = performance.now();
        for (let i = 0; i < 10 && !socket.destroyed; i++) await new Promise((resolve) => socket.write(burst(1 + 200 * i, 100), resolve));
      }
      await closed;
      const goaways = framesIn(Buffer.concat(received)).filter((f) => f.type === FrameType.GOAWAY);
      return { goaways: goaways.map((f) => f.payload.readUInt32BE(4)), ms: performance.now() - start };
    } finally {
      socket.destroy();
    }
  }

  /** One GOAWAY ENHANCE_YOUR_CALM, one warning, and the connection closed long before the idle timeout. */
  function assertCut(r: { goaways: number[]; ms: number }, warningsBefore: number): void {
    assert.deepEqual(r.goaways, [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
    assert.ok(r.ms < keepalive / 2, `closed ${Math.round(r.ms)} ms after the first reset (the idle timeout is ${keepalive} ms)`);
    assert.equal(cuts() - warningsBefore, 1);
  }

  it("on an h2c port, 1,000 streams reset in the connection's first read get one GOAWAY ENHANCE_YOUR_CALM and the connection closed at once", async () => {
    const before = cuts();
    assertCut(await rapidReset({ firstRead: true }), before);
  });

  it('on an h2c port, 1,000 streams reset over several writes after the first get one GOAWAY ENHANCE_YOUR_CALM and the connection closed at once', async () => {
    const before = cuts();
    assertCut(await rapidReset({ firstRead: false }), before);
  });

  it('over TLS with ALPN h2, 1,000 streams reset in one write or in several get one GOAWAY ENHANCE_YOUR_CALM and the connection closed at once', async () => {
    let before = cuts();
    assertCut(await rapidReset({ secure: true, firstRead: true }), before);
    before = cuts();
    assertCut(await rapidReset({ secure: true, firstRead: false }), before);
  });

  for (const [how, burst] of [
    ['HEAD requests reset', { method: 'HEAD' }],
    ['streams reset with NO_ERROR', { code: http2.constants.NGHTTP2_NO_ERROR }],
    ['streams reset with INTERNAL_ERROR', { code: http2.constants.NGHTTP2_INTERNAL_ERROR }],
  ] as const) {
    it(`${how} count as resets, in the first read or after`, async () => {
      let before = cuts();
      assertCut(await rapidReset({ firstRead: true, ...burst }), before);
      before = cuts();
      assertCut(await rapidReset({ firstRead: false, ...burst }), before);
    });
  }

  it('a well-behaved client on another connection is answered before, during and after four connections are cut', async () => {
    const before = cuts();
    const good = http2.connect(`http://127.0.0.1:${gw.port('plain')}`);
    try {
      assert.equal((await request(good, { ':path': '/before' })).status, 200);
      let attacking = true;
      const attacks = Promise.all([
        rapidReset({ firstRead: true }),
        rapidReset({ firstRead: false }),
        rapidReset({ secure: true, firstRead: true }),
        rapidReset({ secure: true, firstRead: false }),
      ]).finally(() => (attacking = false));
      const answered: number[] = [];
      for (let i = 0; i < 500 && attacking; i++) answered.push((await request(good, { ':path': `/during/${i}` })).status);
      for (const r of await attacks) assert.deepEqual(r.goaways, [http2.constants.NGHTTP2_ENHANCE_YOUR_CALM]);
      assert.equal(cuts() - before, 4, 'one warning per connection cut');
      assert.ok(answered.length > 0 && answered.every((s) => s === 200), `the good client got ${answered.join(',')}`);
      assert.equal((await request(good, { ':path': '/after' })).status, 200);
    } finally {
      good.close();
    }
  });

  it('a client whose streams all complete is never cut, however many it opens in a second (HEAD and POST too)', async () => {
    const before = cuts();
    const client = http2.connect(`http://127.0.0.1:${gw.port('plain')}`);
    let goaway: number | undefined;
    client.on('goaway', (code: number) => (goaway = code));
    try {
      const methods = ['GET', 'HEAD', 'POST'];
      const answers = await Promise.all(
        Array.from({ length: 3 * limit }, (_, i) =>
          request(client, { ':method': methods[i % 3], ':path': `/ok/${i}` }, i % 3 === 2 ? Buffer.from('body') : undefined),
        ),
      );
      assert.deepEqual(
        answers.filter((r) => r.status !== 200).map((r) => r.status),
        [],
      );
      assert.equal(goaway, undefined);
      assert.equal(cuts(), before);
    } finally {
      client.close();
    }
  });
});

describe('HTTP/2 config', () => {
  it('check refuses h2c where it cannot apply and an HTTP/2 backend behind a tcp frontend, each at its key', async () => {
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o' } },
      backends: { o: { servers: [{ name: 'o', address: '127.0.0.1:1' }] } },
    });
    try {
      writeFileSync(
        gw.file,
        stringify({
          frontends: {
            tcp: { bind: '127.0.0.1:0', mode: 'tcp', h2c: true, default_backend: 'raw' },
            secure: { bind: '127.0.0.1:0', h2c: true, default_backend: 'o', tls: { certificates: [{ cert: 'x.pem', key: 'x.key' }] } },
          },
          backends: { raw: { protocol: 'h2', servers: [{ name: 'r', address: '127.0.0.1:1' }] }, o: { servers: [{ name: 'o', address: '127.0.0.1:1' }] } },
        }),
      );
      const result = await checkConfig(gw.file, { builtins, logger: createLogger('silent') });
      assert.equal(result.ok, false);
      const at = (path: string) => result.problems.find((p) => p.path === path)?.message;
      assert.match(at('frontends.tcp.h2c') ?? '', /applies to http frontends/);
      assert.match(at('frontends.secure.h2c') ?? '', /with tls, clients choose h2 by ALPN/);
      assert.match(at('backends.raw.protocol') ?? '', /frontend "tcp" is mode tcp/);
    } finally {
      await gw.close();
    }
  });
});

describe('HTTP/2 in stats', () => {
  it('requests are counted by the HTTP version the client spoke', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway({
      stats: { bind: '127.0.0.1:0' },
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
    const client = http2.connect(`http://127.0.0.1:${gw.port()}`);
    try {
      for (let i = 0; i < 3; i++) assert.equal((await request(client, { ':path': '/' })).status, 200);
      assert.equal((await fetch(gw.url('/'))).status, 200);
      const report = (await (await fetch(`http://127.0.0.1:${gw.gateway.statsPort}/stats.json`)).json()) as {
        frontends: { name: string; http_versions: Record<string, number> }[];
      };
      assert.deepEqual(report.frontends.find((f) => f.name === 'web')!.http_versions, { '1.1': 1, '2.0': 3 });
      const metrics = await (await fetch(`http://127.0.0.1:${gw.gateway.statsPort}/metrics`)).text();
      assert.match(metrics, /^tapgate_frontend_http_requests_total\{frontend="web",version="2\.0"\} 3$/m);
    } finally {
      client.close();
      await gw.close();
      await origin.close();
    }
  });
});

describe('HTTP/2 and reloads', () => {
  it('a draining listener sends GOAWAY and lets the open stream finish', async () => {
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let arrived!: () => void;
    const arrival = new Promise<void>((resolve) => (arrived = resolve));
    const origin = await startOrigin('slow', (req, res) => {
      req.resume();
      arrived();
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('first half, ');
      void held.then(() => res.end('second half'));
    });
    const config = (frontend: string) => ({
      frontends: { [frontend]: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true } },
      backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
    });
    const gw = await startGateway(config('web'));
    const client = http2.connect(`http://127.0.0.1:${gw.port()}`);
    try {
      const goaway = once(client, 'goaway');
      const answer = request(client, { ':path': '/held' });
      await arrival;
      // A reload whose frontend has another name: the old listener (port 0) drains.
      writeFileSync(gw.file, stringify({ log: { level: 'silent', access: false }, ...config('web2') }));
      const result = await checkConfig(gw.file, { builtins, logger: createLogger('silent'), keep: true, generationId: 2 });
      assert.ok(result.ok && result.generation);
      await gw.gateway.swap(result.generation, 5000);
      const [code] = await goaway;
      assert.equal(code, http2.constants.NGHTTP2_NO_ERROR);
      release();
      const r = await answer;
      assert.equal(r.status, 200);
      assert.equal(r.body.toString(), 'first half, second half');
      await once(client, 'close');
    } finally {
      client.destroy();
      await gw.close();
      await origin.close();
    }
  });
});
