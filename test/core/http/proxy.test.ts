import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { deadPort, rawExchange, startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { hopByHop } from '../../../sdk/index.ts';

function httpBackend(...origins: { address: string; name: string; weight?: number }[]) {
  return { balance: 'roundrobin', servers: origins.map((o) => ({ name: o.name, address: o.address, weight: o.weight ?? 1 })) };
}

function get(
  url: string,
  agent?: http.Agent,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent, headers }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

describe('http proxy', () => {
  let a: TestOrigin, b: TestOrigin, c: TestOrigin, gw: TestGateway;

  before(async () => {
    [a, b, c] = await Promise.all([startOrigin('a'), startOrigin('b'), startOrigin('c')]);
    gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: {
        app: httpBackend(
          { name: 'a', address: a.address, weight: 2 },
          { name: 'b', address: b.address, weight: 1 },
          { name: 'c', address: c.address, weight: 0 },
        ),
      },
    });
  });
  after(async () => {
    await gw.close();
    await Promise.all([a.close(), b.close(), c.close()]);
  });

  it('splits requests by weight exactly over each cycle, and a weight-0 server gets none', async () => {
    const seen: string[] = [];
    for (let i = 0; i < 30; i++) seen.push((await get(gw.url('/w'))).body);
    assert.equal(seen.filter((s) => s === 'a').length, 20);
    assert.equal(seen.filter((s) => s === 'b').length, 10);
    assert.equal(seen.filter((s) => s === 'c').length, 0);
    for (let i = 0; i < 30; i += 3) assert.deepEqual(seen.slice(i, i + 3).sort(), ['a', 'a', 'b']);
  });

  it('reuses keep-alive connections to the servers', async () => {
    const before = a.connections + b.connections;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < 60; i++) assert.equal((await get(gw.url('/ka'), agent)).status, 200);
    agent.destroy();
    // One pooled connection per server at most, whatever the number of requests.
    assert.ok(a.connections + b.connections - before <= 2, `opened ${a.connections + b.connections - before} server connections for 60 requests`);
  });

  it('strips hop-by-hop headers and appends X-Forwarded-For, -Proto and -Host', async () => {
    a.requests.length = 0;
    b.requests.length = 0;
    const res = await rawExchange(
      gw.port(),
      'GET /h HTTP/1.1\r\nHost: example.test\r\nConnection: close, x-secret\r\nX-Secret: 1\r\nKeep-Alive: timeout=5\r\nTE: trailers\r\nX-Forwarded-For: 10.9.9.9\r\nX-Kept: yes\r\n\r\n',
    );
    assert.match(res, /^HTTP\/1\.1 200/);
    const seen = [...a.requests, ...b.requests][0]!.headers;
    assert.equal(seen['x-secret'], undefined);
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen.te, undefined);
    assert.equal(seen['x-kept'], 'yes');
    assert.equal(seen.host, 'example.test');
    assert.equal(seen['x-forwarded-for'], '10.9.9.9, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'example.test');
  });

  const smuggling: Record<string, string> = {
    'Content-Length with Transfer-Encoding':
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n',
    'two different Content-Lengths': 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 40\r\n\r\nabc',
    'Transfer-Encoding not ending in chunked': 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n',
    'an obfuscated Transfer-Encoding': 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n',
    'a space before the colon': 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc',
    'an obsolete line folding': 'GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n',
    'a bare LF line ending': 'GET / HTTP/1.1\nHost: x\n\n',
    'two Host headers': 'GET / HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\n\r\n',
    'Transfer-Encoding in HTTP/1.0': 'POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    'a missing Host in HTTP/1.1': 'GET / HTTP/1.1\r\n\r\n',
    'a malformed chunk size': 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3 ;x\r\nabc\r\n0\r\n\r\n',
  };
  for (const [shape, bytes] of Object.entries(smuggling)) {
    it(`refuses a request with ${shape} with 400, and keeps serving`, async () => {
      a.requests.length = 0;
      b.requests.length = 0;
      const res = await rawExchange(gw.port(), bytes);
      assert.match(res, /^HTTP\/1\.1 400 /);
      assert.equal(res.match(/HTTP\/1\.1/g)!.length, 1, 'exactly one response, nothing smuggled behind it');
      assert.ok(![...a.requests, ...b.requests].some((r) => r.url === '/smuggled'));
      assert.equal((await get(gw.url('/after'))).status, 200);
    });
  }
});

describe('http proxy: hop-by-hop headers', () => {
  it("keeps every field of the SDK's hopByHop list, and those the server's Connection names, from the client", async () => {
    const origin = await startOrigin('hops', (req, res) => {
      req.resume();
      const head: Record<string, string> = { 'content-type': 'text/plain', connection: 'keep-alive, x-private', 'x-private': 'secret', 'x-kept': 'yes' };
      // Every listed field but the two that frame this very answer (its Connection, above, and Transfer-Encoding).
      for (const name of hopByHop) if (name !== 'connection' && name !== 'transfer-encoding') head[name] = name === 'keep-alive' ? 'timeout=30' : 'x';
      res.writeHead(200, head).end('hops');
    });
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'hops', address: origin.address }) },
    });
    try {
      const res = await get(gw.url('/'));
      assert.equal(res.body, 'hops');
      assert.equal(res.headers['x-kept'], 'yes');
      assert.equal(res.headers['x-private'], undefined, "named by the server's Connection");
      for (const name of hopByHop) if (name !== 'connection' && name !== 'transfer-encoding') assert.equal(res.headers[name], undefined, name);
    } finally {
      await gw.close();
      await origin.close();
    }
  });
});

describe('http proxy: failures', () => {
  it('answers 503 at once when every server refuses, and stays up', async () => {
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'dead' } },
      backends: { dead: httpBackend({ name: 'x', address: `127.0.0.1:${await deadPort()}` }, { name: 'y', address: `127.0.0.1:${await deadPort()}` }) },
    });
    try {
      const t0 = performance.now();
      const res = await get(gw.url());
      assert.equal(res.status, 503);
      assert.equal(res.body, '503 Service Unavailable\n');
      assert.ok(performance.now() - t0 < 2000);
      assert.equal((await get(gw.url())).status, 503, 'still serving');
    } finally {
      await gw.close();
    }
  });

  it('retries a refused connection on the next server', async () => {
    const live = await startOrigin('live');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'dead', address: `127.0.0.1:${await deadPort()}` }, { name: 'live', address: live.address }) },
    });
    try {
      for (let i = 0; i < 4; i++) assert.equal((await get(gw.url())).body, 'live');
    } finally {
      await gw.close();
      await live.close();
    }
  });

  it('answers 502 when a server breaks the connection, and 504 when it is too slow', async () => {
    const broken = await startOrigin('broken', (req) => req.socket.destroy());
    const slow = await startOrigin('slow', () => undefined);
    const gw = await startGateway({
      frontends: {
        b: { bind: '127.0.0.1:0', default_backend: 'broken' },
        s: { bind: '127.0.0.1:0', default_backend: 'slow' },
      },
      backends: {
        broken: httpBackend({ name: 'x', address: broken.address }),
        slow: { ...httpBackend({ name: 'x', address: slow.address }), timeouts: { server: '300ms' } },
      },
    });
    try {
      assert.equal((await get(gw.url('/', 'b'))).status, 502);
      const t0 = performance.now();
      assert.equal((await get(gw.url('/', 's'))).status, 504);
      assert.ok(performance.now() - t0 < 3000);
    } finally {
      await gw.close();
      await Promise.all([broken.close(), slow.close()]);
    }
  });

  it('gives a request whose plugin throws a 500, and the next request succeeds', async () => {
    const origin = await startOrigin('o');
    const plugin = `
      import { definePlugin } from 'tapgate/sdk';
      export default definePlugin({ name: 'thrower', version: '1.0.0', setup(api) {
        api.hooks.http.request.tapPromise(api.name, async (ctx) => { if (ctx.path === '/boom') throw new Error('kaboom'); });
        api.hooks.http.upstreamResponse.tapPromise(api.name, async (ctx) => { if (ctx.path === '/late') throw new Error('late'); });
      }});`;
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './thrower.ts' }] } },
        backends: { app: httpBackend({ name: 'o', address: origin.address }) },
      },
      { 'thrower.ts': plugin },
    );
    try {
      const errors: unknown[] = [];
      gw.gateway.generation.app.error.tap('test', (e) => void errors.push(e));
      assert.equal((await get(gw.url('/boom'))).status, 500);
      assert.equal((await get(gw.url('/late'))).status, 500);
      assert.equal((await get(gw.url('/fine'))).status, 200);
      assert.deepEqual(
        errors.map((e) => (e as { plugin: string }).plugin),
        ['thrower', 'thrower'],
      );
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('lets a request tap answer without contacting any server', async () => {
    const origin = await startOrigin('o');
    const plugin = `
      import { definePlugin, Stage } from 'tapgate/sdk';
      export default definePlugin({ name: 'gate', version: '1.0.0', setup(api) {
        api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx) =>
          ctx.header('x-key') === 'open' ? undefined : { status: 401, headers: { 'www-authenticate': 'Key' }, body: 'no\\n' });
      }});`;
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './gate.ts' }] } },
        backends: { app: httpBackend({ name: 'o', address: origin.address }) },
      },
      { 'gate.ts': plugin },
    );
    try {
      const refused = await get(gw.url('/x'));
      assert.equal(refused.status, 401);
      assert.equal(refused.body, 'no\n');
      assert.equal(origin.requests.length, 0);
      assert.equal((await get(gw.url('/x'), undefined, { 'x-key': 'open' })).status, 200);
      assert.equal(origin.requests.length, 1);
    } finally {
      await gw.close();
      await origin.close();
    }
  });
});

describe('http proxy: limits and timeouts', () => {
  let origin: TestOrigin, gw: TestGateway;
  before(async () => {
    origin = await startOrigin('o');
    gw = await startGateway({
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          timeouts: { client_headers: '300ms', client: '300ms' },
          limits: { max_header_size: '2k', max_body_size: '1k' },
        },
      },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('answers 431 to a request head above max_header_size', async () => {
    const res = await rawExchange(gw.port(), `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(4000)}\r\n\r\n`);
    assert.match(res, /^HTTP\/1\.1 431 /);
  });

  it('answers 413 to a body above max_body_size, announced or chunked', async () => {
    assert.match(await rawExchange(gw.port(), `POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n`), /^HTTP\/1\.1 413 /);
    const chunk = 'a'.repeat(800);
    const chunked = `POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${(800).toString(16)}\r\n${chunk}\r\n${(800).toString(16)}\r\n${chunk}\r\n0\r\n\r\n`;
    assert.match(await rawExchange(gw.port(), chunked), /^HTTP\/1\.1 413 /);
  });

  it('closes a connection whose request head does not arrive in time (slowloris)', async () => {
    const t0 = performance.now();
    const res = await rawExchange(gw.port(), 'GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ', 5000);
    const elapsed = performance.now() - t0;
    assert.ok(elapsed < 2500, `closed after ${elapsed} ms`);
    assert.match(res, /^(HTTP\/1\.1 408 |$)/);
  });

  it('cuts a request body that stalls longer than timeouts.client', async () => {
    const t0 = performance.now();
    await rawExchange(gw.port(), 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc', 5000);
    assert.ok(performance.now() - t0 < 2500);
  });
});

/** Resolves once `read()` has stopped changing (the stream is held by back-pressure), checking every 50 ms, for 10 s at most. */
async function settled(read: () => number): Promise<number> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 200 && still < 5; i++) {
    await new Promise((r) => setTimeout(r, 50));
    const now = read();
    still = now === last ? still + 1 : 0;
    last = now;
  }
  return last;
}

describe('http proxy: streaming', () => {
  const size = 50 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 7);
  // Kernel socket buffers on loopback hold a few MB each way; anything near 50 MB would mean the gateway buffers.
  const slack = 16 * 1024 * 1024;

  it('streams a 50 MB download with back-pressure: a client that stops reading stops the server', async () => {
    let sent = 0;
    const origin = await startOrigin('o', (_req, res) => {
      res.writeHead(200, { 'content-length': String(size) });
      const pump = () => {
        while (sent < size) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    });
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
    try {
      const res = await new Promise<http.IncomingMessage>((resolve) => http.get(gw.url('/down'), resolve));
      let got = 0;
      res.on('data', (d: Buffer) => (got += d.length));
      await once(res, 'data');
      res.pause();
      const held = await settled(() => sent);
      assert.ok(held - got < slack, `server sent ${held >> 20} MB while the client read ${got >> 20} MB`);
      res.resume();
      await once(res, 'end');
      assert.equal(got, size);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('streams a 50 MB upload with back-pressure: a server that stops reading stops the client', async () => {
    let received = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const origin = await startOrigin('o', (req, res) => {
      req.on('data', (d: Buffer) => (received += d.length));
      req.pause();
      void released.then(() => req.resume());
      req.on('end', () => res.end(String(received)));
    });
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
    try {
      let pushed = 0;
      const body = new Readable({
        read() {
          if (pushed >= size) return void this.push(null);
          pushed += chunk.length;
          this.push(chunk);
        },
      });
      const req = http.request(gw.url('/up'), { method: 'POST', headers: { 'content-length': String(size) } });
      body.pipe(req);
      const held = await settled(() => pushed);
      assert.ok(held - received < slack, `client pushed ${held >> 20} MB while the server read ${received >> 20} MB`);
      release();
      const [res] = (await once(req, 'response')) as [http.IncomingMessage];
      let answer = '';
      for await (const d of res) answer += d;
      assert.equal(answer, String(size));
    } finally {
      await gw.close();
      await origin.close();
    }
  });
});

describe('http proxy: bodies byte-exact', () => {
  // Sizes around the reads' boundaries (64 KiB, 256 KiB) and between them, drawn anew each run; the seed is in the failure.
  const seed = Date.now() % 100000;
  let state = seed;
  const random = (n: number) => ((state = (state * 48271) % 2147483647), state % n);
  const sizes = [0, 1, 65535, 65536, 65537, 262143, 262144, 262145, 1 << 20, (1 << 20) + 3, ...Array.from({ length: 6 }, () => random(1_500_000))];
  const bodyOf = (size: number) => {
    const b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) b[i] = (i * 31 + size) & 255;
    return b;
  };
  const digest = (b: Buffer) => createHash('sha256').update(b).digest('hex');
  let origin: TestOrigin, gw: TestGateway;

  before(async () => {
    // GET /n/SIZE/(cl|chunked): SIZE bytes back; POST: the digest and length of what arrived.
    origin = await startOrigin('o', (req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const [, , size, framing] = req.url!.split('/');
        if (req.method === 'POST') return void res.end(`${Buffer.concat(parts).length} ${digest(Buffer.concat(parts))}`);
        const body = bodyOf(Number(size));
        if (framing === 'cl') res.writeHead(200, { 'content-length': String(body.length) });
        // Chunked, in pieces of uneven sizes.
        for (let at = 0; at < body.length;) {
          const n = 1 + ((at * 7919) % 100_000);
          res.write(body.subarray(at, at + n));
          at += n;
        }
        res.end();
      });
    });
    gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('passes responses of random sizes through whole, with a length or chunked', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      for (const size of sizes)
        for (const framing of ['cl', 'chunked']) {
          const res = await new Promise<http.IncomingMessage>((resolve, reject) =>
            http.get(gw.url(`/n/${size}/${framing}`), { agent }, resolve).on('error', reject),
          );
          const parts: Buffer[] = [];
          for await (const d of res) parts.push(d as Buffer);
          const got = Buffer.concat(parts);
          assert.equal(got.length, size, `seed ${seed}: ${framing} ${size}`);
          assert.ok(got.equals(bodyOf(size)), `seed ${seed}: ${framing} ${size} differs`);
        }
    } finally {
      agent.destroy();
    }
  });

  it('passes uploads of random sizes through whole, with a length or chunked', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 2 });
    try {
      for (const size of sizes)
        for (const chunked of [false, true]) {
          const body = bodyOf(size);
          const req = http.request(gw.url('/up'), {
            method: 'POST',
            agent,
            headers: chunked ? { 'transfer-encoding': 'chunked' } : { 'content-length': String(size) },
          });
          // Written in uneven pieces so the reads land across the body in different places.
          for (let at = 0; at < size;) {
            const n = 1 + random(200_000);
            req.write(body.subarray(at, at + n));
            at += n;
          }
          req.end();
          const [res] = (await once(req, 'response')) as [http.IncomingMessage];
          let answer = '';
          for await (const d of res) answer += d;
          assert.equal(answer, `${size} ${digest(body)}`, `seed ${seed}: ${chunked ? 'chunked' : 'length'} ${size}`);
        }
    } finally {
      agent.destroy();
    }
  });

  it('passes concurrent uploads with a length through whole, each with its own bytes (buffers lent past the parser are not shared early)', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
    try {
      const uploads = Array.from({ length: 8 }, (_, k) => {
        const body = Buffer.allocUnsafe(700_000 + 4099 * k);
        for (let i = 0; i < body.length; i++) body[i] = (i * (k + 3) + k * 101) & 255;
        return body;
      });
      const answers = await Promise.all(
        uploads.map(async (body) => {
          const req = http.request(gw.url('/up'), { method: 'POST', agent, headers: { 'content-length': String(body.length) } });
          for (let at = 0; at < body.length; at += 48_000) req.write(body.subarray(at, at + 48_000));
          req.end();
          const [res] = (await once(req, 'response')) as [http.IncomingMessage];
          let answer = '';
          for await (const d of res) answer += d;
          return answer;
        }),
      );
      assert.deepEqual(
        answers,
        uploads.map((b) => `${b.length} ${digest(b)}`),
      );
    } finally {
      agent.destroy();
    }
  });

  it('reads the next request on a connection whose last body arrived whole in one read', async () => {
    // 20 KB: more than the body's buffer takes, so reading pauses; its end comes in the same read, so no later read resumes it.
    const body = bodyOf(20_000);
    const socket = net.connect(gw.port(), '127.0.0.1');
    try {
      let out = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (out += d));
      // Resolves on the read that brings `text`; fails if none has within 2 s (the connection hung).
      const answered = (text: string) =>
        new Promise<void>((resolve, reject) => {
          const check = () => {
            if (!out.includes(text)) return;
            stop();
            resolve();
          };
          const timer = setTimeout(() => {
            stop();
            reject(new assert.AssertionError({ message: `no answer ${text}: ${out.slice(0, 300)}` }));
          }, 2000);
          const stop = () => {
            clearTimeout(timer);
            socket.off('data', check);
          };
          socket.on('data', check);
          check();
        });
      socket.write(Buffer.concat([Buffer.from(`POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: ${body.length}\r\n\r\n`), body]));
      await answered(`${body.length} ${digest(body)}`);
      socket.write('GET /n/5/cl HTTP/1.1\r\nhost: x\r\n\r\n');
      await answered(bodyOf(5).toString('latin1'));
    } finally {
      socket.destroy();
    }
  });

  it('answers requests pipelined behind a body, each in order', async () => {
    const one = bodyOf(300_000);
    const two = bodyOf(70_000);
    const chunk = (b: Buffer) => Buffer.concat([Buffer.from(`${b.length.toString(16)}\r\n`), b, Buffer.from('\r\n0\r\n\r\n')]);
    const bytes = Buffer.concat([
      Buffer.from(`POST /a HTTP/1.1\r\nhost: x\r\ncontent-length: ${one.length}\r\n\r\n`),
      one,
      Buffer.from('POST /b HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n'),
      chunk(two),
      Buffer.from('GET /n/70000/cl HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
    ]);
    const out = Buffer.from(await rawExchange(gw.port(), bytes, 5000), 'latin1');
    const text = out.toString('latin1');
    const first = text.indexOf(`${one.length} ${digest(one)}`);
    const second = text.indexOf(`${two.length} ${digest(two)}`);
    assert.ok(first > 0 && second > first, `answers out of order or missing: ${text.slice(0, 400)}`);
    assert.ok(out.subarray(out.length - 70_000).equals(bodyOf(70_000)), 'the third answer differs');
  });
});

describe('http proxy: bodies with a length, read past the parser', () => {
  const bodyOf = (size: number) => {
    const b = Buffer.allocUnsafe(size);
    for (let i = 0; i < size; i++) b[i] = (i * 13 + size) & 255;
    return b;
  };
  const fetchBody = (url: string, agent: http.Agent, method = 'GET') =>
    new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
      http
        .request(url, { agent, method }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
          res.on('error', reject);
        })
        .on('error', reject)
        .end();
    });

  /** A server on raw sockets: `answer(request line, socket)` writes whatever it likes. */
  async function rawOrigin(answer: (line: string, socket: net.Socket) => void) {
    const state = { connections: 0 };
    const server = net.createServer((socket) => {
      state.connections++;
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => {
        text += d;
        let end;
        while ((end = text.indexOf('\r\n\r\n')) !== -1) {
          const line = text.slice(0, text.indexOf('\r\n'));
          text = text.slice(end + 4);
          answer(line, socket);
        }
      });
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    return { state, address, close: () => new Promise<void>((r) => (server.close(() => r()), server.unref())) };
  }

  /** A gateway in front of a raw origin answering with `answer`, and a client keeping one connection: `run`, then everything closed. */
  async function throughRawOrigin(
    answer: (line: string, socket: net.Socket) => void,
    run: (get: (path: string, method?: string) => ReturnType<typeof fetchBody>, origin: { state: { connections: number } }) => Promise<void>,
  ): Promise<void> {
    const origin = await rawOrigin(answer);
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      await run((path, method) => fetchBody(gw.url(path), agent, method), origin);
    } finally {
      agent.destroy();
      await gw.close();
      await origin.close();
    }
  }

  it('passes answers of sizes around the read size in a row over one kept-alive server connection', async () => {
    const sizes = [1, 65535, 65536, 65537, (1 << 20) + 3, 5, 70_000, 1];
    const origin = await startOrigin('o', (req, res) => {
      const body = bodyOf(Number(req.url!.slice(1)));
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: httpBackend({ name: 'o', address: origin.address }) },
    });
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const size of sizes) {
        const { status, body } = await fetchBody(gw.url(`/${size}`), agent);
        assert.equal(status, 200);
        assert.equal(body.length, size);
        assert.ok(body.equals(bodyOf(size)), `${size} differs`);
      }
      assert.equal(origin.connections, 1, 'each answer after the first was read on the same server connection');
    } finally {
      agent.destroy();
      await gw.close();
      await origin.close();
    }
  });

  it('does not reuse a server connection that sent bytes after the body', async () => {
    const answer = (line: string, socket: net.Socket) => {
      if (line.startsWith('GET /extra ')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhelloHTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\nbad');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood');
    };
    await throughRawOrigin(answer, async (get, origin) => {
      assert.equal((await get('/extra')).body.toString(), 'hello');
      const next = await get('/next');
      assert.deepEqual([next.status, next.body.toString()], [200, 'good']);
      assert.equal(origin.state.connections, 2, 'the next request went on a new connection');
    });
  });

  it('reads the next answer on the connection after a HEAD and after a 304, both with a length and no body', async () => {
    const answer = (line: string, socket: net.Socket) => {
      if (line.startsWith('HEAD ')) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n');
      else if (line.startsWith('GET /304 ')) socket.write('HTTP/1.1 304 Not Modified\r\ncontent-length: 1000\r\n\r\n');
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ngood');
    };
    await throughRawOrigin(answer, async (get, origin) => {
      assert.deepEqual(await get('/head', 'HEAD'), { status: 200, body: Buffer.alloc(0) });
      assert.equal((await get('/a')).body.toString(), 'good');
      assert.deepEqual(await get('/304'), { status: 304, body: Buffer.alloc(0) });
      assert.equal((await get('/b')).body.toString(), 'good');
      assert.equal(origin.state.connections, 1);
    });
  });

  it("gives a plugin that observes the server's body every byte of it", async () => {
    const origin = await startOrigin('o', (req, res) => {
      const body = bodyOf(Number(req.url!.slice(1)));
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    const plugin = `
      import { createHash } from 'node:crypto';
      import { definePlugin } from 'tapgate/sdk';
      export default definePlugin({ name: 'watcher', version: '1.0.0', setup(api) {
        api.hooks.http.upstreamResponse.tap(api.name, (ctx, res) => {
          const hash = createHash('sha256');
          let length = 0;
          res.onBody({
            data: (chunk) => { length += chunk.length; hash.update(chunk); },
            end: () => { (globalThis as any).__watched = \`\${length} \${hash.digest('hex')}\`; },
          });
        });
      }});`;
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './watcher.ts' }] } },
        backends: { app: httpBackend({ name: 'o', address: origin.address }) },
      },
      { 'watcher.ts': plugin },
    );
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      for (const size of [65537, (1 << 20) + 3]) {
        const { body } = await fetchBody(gw.url(`/${size}`), agent);
        assert.ok(body.equals(bodyOf(size)));
        const expected = `${size} ${createHash('sha256').update(bodyOf(size)).digest('hex')}`;
        for (let i = 0; i < 50 && (globalThis as Record<string, unknown>).__watched !== expected; i++) await new Promise((r) => setTimeout(r, 10));
        assert.equal((globalThis as Record<string, unknown>).__watched, expected);
      }
    } finally {
      agent.destroy();
      await gw.close();
      await origin.close();
    }
  });
});
