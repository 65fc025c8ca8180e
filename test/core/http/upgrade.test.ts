import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { WebSocket, WebSocketServer, type RawData } from 'ws';
import { checkConfig } from '../../../core/config/check.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { deadPort, startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { testPki } from '../tls/pki.ts';

interface WsOrigin {
  name: string;
  address: string;
  /** The server side of each connection, by the path the client asked for. */
  byPath: Map<string, WebSocket>;
  /** Request heads of the upgrades accepted, in order. */
  requests: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

/** A WebSocket origin on 127.0.0.1:0: echoes every message (binary stays binary), answers "who?" with its name, refuses /forbidden with 403. */
async function startWsOrigin(name: string): Promise<WsOrigin> {
  const wss = new WebSocketServer({
    host: '127.0.0.1',
    port: 0,
    maxPayload: 4 * 1024 * 1024,
    verifyClient: (info, done) => (info.req.url === '/forbidden' ? done(false, 403, 'Forbidden') : done(true)),
  });
  await once(wss, 'listening');
  const origin: WsOrigin = {
    name,
    address: `127.0.0.1:${(wss.address() as net.AddressInfo).port}`,
    byPath: new Map(),
    requests: [],
    close: () => {
      for (const c of wss.clients) c.terminate();
      return new Promise((resolve) => wss.close(() => resolve()));
    },
  };
  wss.on('connection', (ws, req) => {
    origin.requests.push(req.headers);
    origin.byPath.set(req.url!, ws);
    ws.on('message', (data: RawData, isBinary) => {
      if (!isBinary && data.toString() === 'who?') ws.send(name);
      else ws.send(data as Buffer, { binary: isBinary });
    });
  });
  return origin;
}

const backend = (...origins: { name: string; address: string }[]) => ({ servers: origins.map((o) => ({ name: o.name, address: o.address })) });

function wsUrl(gw: TestGateway, path = '/', frontend?: string): string {
  return `ws://127.0.0.1:${gw.port(frontend)}${path}`;
}

/** An open client, or the error that kept it from opening. */
async function open(url: string, options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  const ws = new WebSocket(url, { maxPayload: 4 * 1024 * 1024, ...options });
  await new Promise<void>((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return ws;
}

/** A handshake the server side did not accept: the status, headers and body the client got. */
function refusal(url: string, options: WebSocket.ClientOptions = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options);
    ws.once('open', () => reject(new Error('the upgrade was accepted')));
    ws.once('error', () => undefined); // ws reports the abort after 'unexpected-response'
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
  });
}

function nextMessage(ws: WebSocket): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve) => ws.once('message', (data: RawData, isBinary) => resolve({ data: data as Buffer, isBinary })));
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.resolve({ code: 1006, reason: '' });
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A plugin that records every request's outcome as `responseSent` sees it. */
const recorder = `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'recorder', version: '1.0.0', setup(api) {
    api.hooks.http.responseSent.tap(api.name, (ctx) => {
      ((globalThis as any).upgradeRecords ??= []).push({ path: ctx.path, status: ctx.status, bytesIn: ctx.bytesIn, bytesOut: ctx.bytesOut, total: ctx.timings.total, error: ctx.error });
    });
  }});`;
type Outcome = { path: string; status: number; bytesIn: number; bytesOut: number; total: number; error?: string };
const records = (): Outcome[] => ((globalThis as { upgradeRecords?: Outcome[] }).upgradeRecords ??= []);

/** Shows on every answer the status `upstreamResponse` saw. */
const stamp = `
  import { definePlugin } from 'tapgate/sdk';
  export default definePlugin({ name: 'stamp', version: '1.0.0', setup(api) {
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (ctx, res) => {
      res.headers['x-upstream-status'] = String(res.status);
    });
  }});`;

/** Refuses upgrades without `Authorization` (401), as an auth plugin would. */
const auth = `
  import { definePlugin, Stage } from 'tapgate/sdk';
  export default definePlugin({ name: 'auth', version: '1.0.0', setup(api) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.AUTH }, async (ctx) => {
      if (ctx.header('authorization') !== 'Bearer good') return { status: 401, headers: { 'www-authenticate': 'Bearer' }, body: 'who are you?\\n' };
    });
  }});`;

describe('WebSocket through the gateway', { timeout: 20_000 }, () => {
  let origin: WsOrigin, gw: TestGateway;

  before(async () => {
    origin = await startWsOrigin('o');
    gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws', plugins: [{ use: './recorder.ts' }, { use: './stamp.ts' }] } },
        backends: { ws: backend(origin) },
      },
      { 'recorder.ts': recorder, 'stamp.ts': stamp },
    );
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('echoes a text message', async () => {
    const ws = new WebSocket(wsUrl(gw, '/text'));
    const upgraded = once(ws, 'upgrade') as Promise<[http.IncomingMessage]>;
    await once(ws, 'open');
    const [res] = await upgraded;
    // upstreamResponse taps see the 101 and may add headers to it.
    assert.equal(res.headers['x-upstream-status'], '101');
    ws.send('hello through the gateway');
    const m = await nextMessage(ws);
    assert.equal(m.isBinary, false);
    assert.equal(m.data.toString(), 'hello through the gateway');
    ws.close();
    await closed(ws);
  });

  it('echoes a binary message byte for byte', async () => {
    const ws = await open(wsUrl(gw, '/binary'));
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    ws.send(bytes);
    const m = await nextMessage(ws);
    assert.equal(m.isBinary, true);
    assert.deepEqual(m.data, bytes);
    ws.close();
    await closed(ws);
  });

  it('echoes a 1 MB frame', async () => {
    const ws = await open(wsUrl(gw, '/big'));
    const bytes = randomBytes(1024 * 1024);
    ws.send(bytes);
    const m = await nextMessage(ws);
    assert.equal(m.data.length, bytes.length);
    assert.ok(m.data.equals(bytes));
    ws.close();
    await closed(ws);
  });

  it('passes pings and pongs both ways', async () => {
    const ws = await open(wsUrl(gw, '/ping'));
    const pong = once(ws, 'pong');
    ws.ping('are you there');
    assert.equal(((await pong)[0] as Buffer).toString(), 'are you there');
    const server = origin.byPath.get('/ping')!;
    const serverPong = once(server, 'pong');
    server.ping('and you?');
    assert.equal(((await serverPong)[0] as Buffer).toString(), 'and you?');
    ws.close();
    await closed(ws);
  });

  it('passes a close code and reason from the client to the server, and from the server to the client', async () => {
    const ws = await open(wsUrl(gw, '/close-by-client'));
    const serverSide = closed(origin.byPath.get('/close-by-client')!);
    ws.close(4001, 'client says bye');
    assert.deepEqual(await serverSide, { code: 4001, reason: 'client says bye' });
    await closed(ws);

    const ws2 = await open(wsUrl(gw, '/close-by-server'));
    const clientSide = closed(ws2);
    origin.byPath.get('/close-by-server')!.close(4002, 'server says bye');
    assert.deepEqual(await clientSide, { code: 4002, reason: 'server says bye' });
  });

  it('sends the upgrade to the server with X-Forwarded-For and without the client hop-by-hop headers', async () => {
    origin.requests.length = 0;
    const ws = await open(wsUrl(gw, '/headers'), { headers: { 'x-forwarded-for': '10.1.1.1', 'keep-alive': 'timeout=5', 'x-kept': 'yes' } });
    const seen = origin.requests[0]!;
    assert.equal(seen.upgrade, 'websocket');
    assert.match(String(seen.connection), /upgrade/i);
    assert.equal(seen['x-forwarded-for'], '10.1.1.1, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['keep-alive'], undefined);
    assert.equal(seen['x-kept'], 'yes');
    ws.close();
    await closed(ws);
  });

  it('serves 200 concurrent sockets, each echoing then closing', async () => {
    const n = 200;
    const started = performance.now();
    const sockets = await Promise.all(Array.from({ length: n }, (_, i) => open(wsUrl(gw, `/many/${i}`))));
    const echoes = await Promise.all(
      sockets.map((ws, i) => {
        const m = nextMessage(ws);
        ws.send(`message ${i}`);
        return m;
      }),
    );
    echoes.forEach((m, i) => assert.equal(m.data.toString(), `message ${i}`));
    await Promise.all(
      sockets.map((ws) => {
        const c = closed(ws);
        ws.close(1000, 'done');
        return c;
      }),
    );
    assert.ok(performance.now() - started < 10_000, `took ${Math.round(performance.now() - started)} ms`);
  });

  it('logs a tunnel once it closes: status 101, bytes both ways, its duration', async () => {
    records().length = 0;
    const ws = await open(wsUrl(gw, '/counted'));
    ws.send('x'.repeat(1000));
    await nextMessage(ws);
    await sleep(50);
    assert.equal(records().filter((r) => r.path === '/counted').length, 0, 'nothing is recorded while the tunnel is open');
    ws.close(1000);
    await closed(ws);
    await sleep(50);
    const r = records().find((r) => r.path === '/counted')!;
    assert.equal(r.status, 101);
    // A masked 1000-byte frame is 1008 bytes, the close frame 8; the echo comes back unmasked.
    assert.ok(r.bytesIn >= 1008 + 8, `bytesIn ${r.bytesIn}`);
    assert.ok(r.bytesOut >= 1004 + 4, `bytesOut ${r.bytesOut}`);
    assert.ok(r.total >= 50, `total ${r.total}`);
    assert.equal(r.error, undefined);
  });

  it("passes the server's refusal (403) to the client and closes", async () => {
    const res = await refusal(wsUrl(gw, '/forbidden'));
    assert.equal(res.status, 403);
    assert.equal(res.headers['x-upstream-status'], '403');
    assert.equal(res.headers.connection, 'close');
  });

  it('refuses an upgrade without Host, or with a body, with a 400', async () => {
    const noHost = await raw(gw.port(), 'GET / HTTP/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    assert.match(noHost, /^HTTP\/1\.1 400 /);
    const body = await raw(gw.port(), 'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 5\r\n\r\nhello');
    assert.match(body, /^HTTP\/1\.1 400 /);
  });
});

/** Sends `bytes` on a fresh connection and collects what comes back until the gateway closes it. */
function raw(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.setTimeout(3000, () => socket.destroy(new Error(`no close; got ${JSON.stringify(out)}`)));
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

describe('WebSocket: failures and refusals', { timeout: 20_000 }, () => {
  it('answers 503 when the server cannot be reached', async () => {
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } },
      backends: { ws: { servers: [{ name: 'dead', address: `127.0.0.1:${await deadPort()}` }] } },
    });
    try {
      const res = await refusal(wsUrl(gw));
      assert.equal(res.status, 503);
    } finally {
      await gw.close();
    }
  });

  it('tries another server when a connection fails before anything was sent', async () => {
    const origin = await startWsOrigin('live');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } },
      backends: {
        ws: {
          retries: 1,
          servers: [
            { name: 'dead', address: `127.0.0.1:${await deadPort()}` },
            { name: 'live', address: origin.address },
          ],
        },
      },
    });
    try {
      for (let i = 0; i < 4; i++) {
        const ws = await open(wsUrl(gw));
        ws.send('who?');
        assert.equal((await nextMessage(ws)).data.toString(), 'live');
        ws.close();
        await closed(ws);
      }
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('answers 504 when the server does not answer the upgrade within timeouts.server', async () => {
    // Reads the request (so it notices the gateway leaving) and never answers.
    const silent = net.createServer((s) => s.on('error', () => undefined).resume());
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } },
      backends: { ws: { timeouts: { server: '300ms' }, servers: [{ name: 'silent', address: `127.0.0.1:${(silent.address() as net.AddressInfo).port}` }] } },
    });
    try {
      const started = performance.now();
      const res = await refusal(wsUrl(gw));
      assert.equal(res.status, 504);
      assert.ok(performance.now() - started < 2000);
    } finally {
      await gw.close();
      await new Promise((r) => silent.close(r));
    }
  });

  it('lets a request-hook plugin refuse the upgrade (401) before any server is asked', async () => {
    const origin = await startWsOrigin('o');
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws', plugins: [{ use: './auth.ts' }] } },
        backends: { ws: backend(origin) },
      },
      { 'auth.ts': auth },
    );
    try {
      const res = await refusal(wsUrl(gw, '/private'));
      assert.equal(res.status, 401);
      assert.equal(res.headers['www-authenticate'], 'Bearer');
      assert.equal(res.body, 'who are you?\n');
      assert.equal(origin.requests.length, 0);
      const ws = await open(wsUrl(gw, '/private'), { headers: { authorization: 'Bearer good' } });
      ws.send('in');
      assert.equal((await nextMessage(ws)).data.toString(), 'in');
      ws.close();
      await closed(ws);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it("takes the route's backend: two paths, two origins", async () => {
    const [a, b] = await Promise.all([startWsOrigin('a'), startWsOrigin('b')]);
    const gw = await startGateway({
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'b',
          routes: [
            { name: 'to-a', match: { path: '/a' }, backend: 'a' },
            { name: 'to-b', match: { path: '/b' }, backend: 'b' },
          ],
        },
      },
      backends: { a: backend(a), b: backend(b) },
    });
    try {
      for (const [path, want] of [
        ['/a/chat', 'a'],
        ['/b/chat', 'b'],
        ['/a', 'a'],
      ] as const) {
        const ws = await open(wsUrl(gw, path));
        ws.send('who?');
        assert.equal((await nextMessage(ws)).data.toString(), want, path);
        ws.close();
        await closed(ws);
      }
    } finally {
      await gw.close();
      await Promise.all([a.close(), b.close()]);
    }
  });
});

describe('WebSocket: timeouts, reload and stop', { timeout: 20_000 }, () => {
  it('cuts a tunnel idle for timeouts.tunnel, and keeps a busy one', async () => {
    const origin = await startWsOrigin('o');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } },
      backends: { ws: { timeouts: { tunnel: '400ms' }, servers: [{ name: 'o', address: origin.address }] } },
    });
    try {
      const idle = await open(wsUrl(gw, '/idle'));
      const busy = await open(wsUrl(gw, '/busy'));
      const idleClosed = closed(idle);
      const started = performance.now();
      // Busy: a message every 100 ms for 1 s, well past the idle timeout.
      for (let i = 0; i < 10; i++) {
        busy.send(`tick ${i}`);
        assert.equal((await nextMessage(busy)).data.toString(), `tick ${i}`);
        await sleep(100);
      }
      const { code } = await idleClosed;
      assert.equal(code, 1006, 'cut, not closed by a close frame');
      assert.ok(performance.now() - started >= 300);
      assert.equal(busy.readyState, WebSocket.OPEN);
      busy.close();
      await closed(busy);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('keeps an open WebSocket through a graceful reload until hard_stop_after, then cuts it', async () => {
    const origin = await startWsOrigin('o');
    const config = {
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } },
      backends: { ws: backend(origin) },
    };
    const gw = await startGateway(config);
    try {
      const ws = await open(wsUrl(gw, '/long'));
      const wsClosed = closed(ws);
      const port = gw.port();
      const result = await checkConfig(gw.file, { builtins, logger: createLogger('silent'), keep: true, generationId: 2 });
      assert.ok(result.ok && result.generation, JSON.stringify(result.problems));
      const hardAfter = 1000;
      const swapped = performance.now();
      await gw.gateway.swap(result.generation, hardAfter);
      assert.equal(gw.port(), port, 'the same listener');
      // Well past the drain's idle close (1 s for keep-alive connections): still up, still echoing.
      for (let i = 0; i < 5; i++) {
        await sleep(150);
        ws.send(`still here ${i}`);
        assert.equal((await nextMessage(ws)).data.toString(), `still here ${i}`);
      }
      // A new WebSocket is served by the new generation meanwhile.
      const fresh = await open(wsUrl(gw, '/fresh'));
      const { code } = await wsClosed;
      const at = performance.now() - swapped;
      assert.equal(code, 1006);
      assert.ok(at >= hardAfter - 50 && at < hardAfter + 1000, `cut after ${Math.round(at)} ms`);
      // The new generation's tunnel is not cut with the old one's.
      fresh.send('new');
      assert.equal((await nextMessage(fresh)).data.toString(), 'new');
      fresh.close();
      await closed(fresh);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('stop waits for an open WebSocket until hardAfter; kill cuts at once', async () => {
    const origin = await startWsOrigin('o');
    const config = { frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws' } }, backends: { ws: backend(origin) } };
    const gw = await startGateway(config);
    try {
      const ws = await open(wsUrl(gw, '/stop'));
      const stopped = performance.now();
      let stopDone = 0;
      const stopping = gw.gateway.stop(1500).then(() => (stopDone = performance.now() - stopped));
      // Past the drain's idle close of keep-alive connections (1 s): a tunnel is never idle.
      await sleep(1200);
      ws.send('still');
      assert.equal((await nextMessage(ws)).data.toString(), 'still');
      assert.equal(stopDone, 0, 'stop waits for the tunnel');
      assert.equal((await closed(ws)).code, 1006);
      await stopping;
      assert.ok(stopDone >= 1400, `stopped after ${Math.round(stopDone)} ms`);
    } finally {
      await gw.close();
    }

    const gw2 = await startGateway(config);
    try {
      const ws2 = await open(wsUrl(gw2, '/kill'));
      const killed = performance.now();
      await gw2.gateway.kill();
      assert.equal((await closed(ws2)).code, 1006);
      assert.ok(performance.now() - killed < 500);
    } finally {
      await gw2.close();
      await origin.close();
    }
  });
});

describe('WebSocket over TLS', { timeout: 20_000 }, () => {
  it('terminates wss:// at the gateway and speaks TLS to a wss origin (ssl: true)', async () => {
    const pki = testPki();
    const server = https.createServer({ cert: pki.origin.cert, key: pki.origin.key });
    const wss = new WebSocketServer({ server });
    wss.on('connection', (ws, req) => ws.on('message', (data: RawData) => ws.send(`${req.headers['x-forwarded-proto']}: ${String(data)}`)));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ws', tls: { certificates: [{ cert: 'gw.pem', key: 'gw.key' }] } } },
        backends: { ws: { servers: [{ name: 's', address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, ssl: true, ca: 'ca.pem' }] } },
      },
      { 'gw.pem': pki.origin.cert, 'gw.key': pki.origin.key, 'ca.pem': pki.ca.cert },
    );
    try {
      const ws = await open(`wss://127.0.0.1:${gw.port()}/secure`, { ca: pki.ca.cert });
      ws.send('sealed');
      assert.equal((await nextMessage(ws)).data.toString(), 'https: sealed');
      ws.close(1000);
      await closed(ws);
    } finally {
      await gw.close();
      for (const c of wss.clients) c.terminate();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('other upgrades', { timeout: 20_000 }, () => {
  it('relays any protocol a server switches to (101), half-closes included', async () => {
    // A server speaking "shout": upper-cases what it gets, and says "BYE" once the client has finished sending.
    const server = http.createServer((_req, res) => res.writeHead(426).end());
    server.on('upgrade', (req, socket: net.Socket, head: Buffer) => {
      if (req.headers.upgrade !== 'shout') return socket.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      // The 101 and the first bytes of the new protocol in one write: the gateway reads them as one chunk.
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\n' + head.toString().toUpperCase());
      socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
      socket.on('end', () => socket.end('BYE'));
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'shout' } },
      backends: { shout: { servers: [{ name: 's', address: `127.0.0.1:${(server.address() as net.AddressInfo).port}` }] } },
    });
    try {
      const client = net.connect(gw.port(), '127.0.0.1');
      let got = '';
      client.setEncoding('latin1');
      client.on('data', (d: string) => (got += d));
      await once(client, 'connect');
      client.write('GET /shout HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: shout\r\n\r\nfirst ');
      while (!got.includes('FIRST ')) await sleep(10);
      assert.match(got, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
      assert.match(got, /\r\nupgrade: shout\r\n/i);
      assert.match(got, /\r\nconnection: upgrade\r\n/i);
      client.write('second ');
      while (!got.includes('SECOND ')) await sleep(10);
      // The client finishes sending; the server still answers after that, then ends too.
      client.end('last');
      await once(client, 'close');
      assert.match(got, /\r\n\r\nFIRST SECOND LASTBYE$/);

      // A server that does not switch: its answer reaches the client, and the connection closes.
      const refused = await raw(gw.port(), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: whisper\r\n\r\n');
      assert.match(refused, /^HTTP\/1\.1 400 Bad Request\r\n/);
    } finally {
      await gw.close();
      await new Promise((r) => server.close(r));
    }
  });
});
