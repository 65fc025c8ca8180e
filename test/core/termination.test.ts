// The termination table (README, "Termination states"), row by row: a real client and a
// real server misbehaving at each phase, what the client gets, the access log's two
// letters, and whom it is charged to. Only server-caused rows (`S`, `s`) touch a server's
// errors, its 5xx share and its health.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../../core/config/check.ts';
import { Gateway } from '../../core/gateway.ts';
import { createLogger, type AccessLog } from '../../core/log.ts';
import type { MetricSample } from '../../sdk/metrics.ts';
import { builtins } from '../../plugins/index.ts';
import { deadPort, rawExchange, tempDir } from '../helpers/gateway.ts';

type Entry = Record<string, unknown> & { path?: string; termination?: string; status?: number; error?: string; server?: string; retries?: number };

/** An access log kept in memory: each entry, and a promise of the entry for a path. */
function memoryLog(): AccessLog & { entries: Entry[]; next(path: string): Promise<Entry> } {
  const entries: Entry[] = [];
  const waiting = new Map<string, (e: Entry) => void>();
  return {
    entries,
    write(entry) {
      const e = entry as Entry;
      entries.push(e);
      const wake = waiting.get(e.path ?? '');
      if (wake) {
        waiting.delete(e.path ?? '');
        wake(e);
      }
    },
    next(path) {
      const seen = entries.find((e) => e.path === path);
      return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.set(path, resolve));
    },
    flush() {},
    close: async () => {},
  };
}

/** Requests the origin holds: a path waits until the test releases it. */
const held = new Map<string, () => void>();
const arrived = new Map<string, () => void>();
/** Resolves once the origin has the request for `path` (its head, and its body if it waits for one). */
const atOrigin = (path: string) => new Promise<void>((resolve) => arrived.set(path, resolve));

/** An origin that misbehaves as the path asks. */
function startOrigin(): Promise<{ server: http.Server; address: string; seen: string[]; close(): Promise<void> }> {
  const seen: string[] = [];
  /** Upgraded connections: node:http no longer tracks them. */
  const tunnels = new Set<net.Socket>();
  const server = http.createServer((req, res) => {
    const path = req.url!;
    seen.push(path);
    const socket = req.socket;
    const name = path.split('?')[0]!.split('/').pop()!;
    arrived.get(path)?.();
    switch (name) {
      case 'hang':
        return void held.set(path, () => res.end('late'));
      case 'reset-head':
        return void socket.resetAndDestroy();
      case 'close-head':
        return void socket.end();
      case 'garbage':
        return void socket.end('HELLO WORLD\r\n\r\n');
      case 'truncate':
        res.writeHead(200, { 'content-length': '100' });
        res.write('x'.repeat(10));
        return void setImmediate(() => socket.end());
      case 'reset-body':
        res.writeHead(200, { 'content-length': '100' });
        res.write('x'.repeat(10));
        return void setImmediate(() => socket.resetAndDestroy());
      case 'stall-body':
        res.writeHead(200, { 'content-length': '100' });
        return void res.write('x'.repeat(10));
      case 'endless':
        res.writeHead(200, { 'content-length': String(1 << 30) });
        res.write('x'.repeat(1000));
        return void held.set(path, () => socket.destroy());
      case 'upload':
        // Reads the whole body, then answers: a healthy server.
        req.resume();
        return void req.on('end', () => res.end('got it'));
      case 'server-500':
        res.writeHead(500);
        return void res.end('broken on purpose');
      default:
        req.resume();
        return void req.on('end', () => res.end('ok'));
    }
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: net.Socket) => {
    seen.push(req.url!);
    tunnels.add(socket);
    socket.once('close', () => tunnels.delete(socket));
    socket.write('HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n');
    socket.on('error', () => undefined);
    // Echoes; on /tunnel-reset, resets the connection at the first bytes instead.
    socket.on('data', (d) => (req.url === '/tunnel-reset' ? socket.resetAndDestroy() : socket.write(d)));
  });
  server.on('clientError', (_err, socket) => socket.destroy());
  const close = () => {
    server.closeAllConnections();
    for (const t of tunnels) t.destroy();
    return new Promise<void>((r) => server.close(() => r()));
  };
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve({ server, address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`, seen, close })),
  );
}

/** A TLS port that accepts TCP connections and never answers a ClientHello: a connect that times out. */
async function stallingTls(): Promise<{ address: string; close(): Promise<void> }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((r) => server.close(() => r()));
    },
  };
}

/** A plugin whose `request` tap waits (asynchronously) until the test lets the request go, for paths under /tap/. */
const holdingPlugin = `import { definePlugin, Stage } from 'tapgate/sdk';
export default definePlugin({ name: 'holding', setup(api) {
  const test = (globalThis as any).__terminationTest;
  api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.LIMIT }, (ctx) => ctx.path.startsWith('/tap/') ? test.hold(ctx.path) : Promise.resolve());
}});`;
const throwingPlugin = `import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'throwing', setup(api) {
  api.hooks.http.request.tap(api.name, (ctx) => { if (ctx.path === '/plugin-throws') throw new Error('on purpose'); });
  api.hooks.http.upstreamResponse.tap(api.name, (ctx) => { if (ctx.path === '/plugin-throws-on-response') throw new Error('on purpose'); });
}});`;

/** The gateway's access log. */
const log = memoryLog();

/**
 * Sends `head`, then whatever `then` does with the socket; resolves with all that came
 * back once the connection closed and the gateway logged the request (its counters are
 * then up to date).
 */
function converse(port: number, head: string, then: (socket: net.Socket) => void = () => undefined): Promise<string> {
  const path = head.split(' ')[1]!.split('?')[0]!;
  return new Promise<string>((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(head);
      then(socket);
    });
    let got = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (got += d));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(got));
  }).then((got) => log.next(path).then(() => got));
}

/** Resolves once `cond` holds, checked every turn of the event loop (for state no event announces), for 5 s at most. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in 5 s');
    await new Promise((r) => setImmediate(r));
  }
}

const status = (reply: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(reply)?.[1] ?? 0);

describe('termination states: who ended each request, in which phase, and whom it is charged to', () => {
  let gateway: Gateway;
  let port: number;
  let origin: Awaited<ReturnType<typeof startOrigin>>;
  let stalling: Awaited<ReturnType<typeof stallingTls>>;
  const taps = new Map<string, () => void>();
  const tapped = new Map<string, () => void>();

  before(async () => {
    (globalThis as Record<string, unknown>).__terminationTest = {
      hold: (path: string) =>
        new Promise<void>((resolve) => {
          taps.set(path, resolve);
          tapped.get(path)?.();
        }),
    };
    origin = await startOrigin();
    stalling = await stallingTls();
    const dir = tempDir();
    writeFileSync(join(dir, 'holding.ts'), holdingPlugin);
    writeFileSync(join(dir, 'throwing.ts'), throwingPlugin);
    const file = join(dir, 'tapgate.yaml');
    const dead1 = `127.0.0.1:${await deadPort()}`;
    const dead2 = `127.0.0.1:${await deadPort()}`;
    const passive = { consecutive_errors: 1000, eject_for: '10s' };
    writeFileSync(
      file,
      stringify({
        log: { level: 'silent', access: false },
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            timeouts: { client: '300ms', client_headers: '300ms' },
            limits: { max_body_size: '1k' },
            plugins: ['./holding.ts', './throwing.ts'],
            routes: [
              { name: 'local', match: { path: { exact: '/local' } }, plugins: [{ use: 'respond', options: { status: 204 } }] },
              { name: 'queued', match: { path: '/queue/' }, backend: 'one-slot' },
              { name: 'nobody', match: { path: '/nobody' }, backend: 'maint' },
              { name: 'dead', match: { path: '/dead' }, backend: 'dead' },
              { name: 'retry', match: { path: '/retry' }, backend: 'retry' },
              { name: 'connect-timeout', match: { path: '/connect-timeout' }, backend: 'stalling' },
            ],
          },
          // No default_backend and no route: nothing to send a request to.
          bare: { bind: '127.0.0.1:0' },
        },
        backends: {
          app: { passive, timeouts: { server: '300ms', server_body: '300ms', tunnel: '300ms' }, servers: [{ name: 'o', address: origin.address }] },
          'one-slot': { passive, timeouts: { queue: '300ms' }, servers: [{ name: 'q', address: origin.address, maxconn: 1 }] },
          maint: { passive, servers: [{ name: 'm', address: origin.address, state: 'maint' }] },
          dead: {
            passive,
            retries: 1,
            servers: [
              { name: 'd1', address: dead1 },
              { name: 'd2', address: dead2 },
            ],
          },
          retry: {
            passive,
            retries: 1,
            balance: 'first',
            servers: [
              { name: 'dead', address: dead1 },
              { name: 'good', address: origin.address },
            ],
          },
          stalling: { passive, retries: 0, timeouts: { connect: '200ms' }, servers: [{ name: 't', address: stalling.address, ssl: true, verify: false }] },
        },
      }),
    );
    const checked = await checkConfig(file, { builtins, logger: createLogger('silent'), keep: true, probeServers: false });
    assert.ok(checked.generation, checked.problems.map((p) => p.message).join('\n'));
    gateway = await Gateway.start(checked.generation, { logger: createLogger('silent'), accessLog: log });
    port = gateway.port('web');
  });

  after(async () => {
    await gateway?.kill();
    await origin.close();
    await stalling.close();
  });

  /** What the stats count against one server now. */
  function charges(backend: string, server: string): { connect: number; response: number; fivexx: number; consecutive: number } {
    const samples = gateway.metrics();
    const value = (name: string, extra: Record<string, string> = {}) =>
      (samples.find((s: MetricSample) => s.name === name)?.values as { labels: Record<string, string>; value: number }[] | undefined)
        ?.filter((v) => v.labels.backend === backend && v.labels.server === server && Object.entries(extra).every(([k, x]) => v.labels[k] === x))
        .reduce((n, v) => n + v.value, 0) ?? 0;
    const s = gateway.generation.backends.get(backend)!.servers.find((x) => x.name === server)!;
    return {
      connect: value('server_connection_errors_total'),
      response: value('server_response_errors_total'),
      fivexx: value('server_responses_total', { code: '5xx' }),
      consecutive: s.health.consecutiveErrors,
    };
  }

  /** Runs `act`, then says what changed in the charges of each server named (the health's errors in a row, since the last success). */
  async function charged(
    servers: [string, string][],
    act: () => Promise<void>,
  ): Promise<Record<string, { connect: number; response: number; fivexx: number; consecutive: number }>> {
    const before = servers.map(([b, s]) => charges(b, s));
    await act();
    const out: Record<string, { connect: number; response: number; fivexx: number; consecutive: number }> = {};
    servers.forEach(([b, s], i) => {
      const now = charges(b, s);
      const was = before[i]!;
      out[s] = {
        connect: now.connect - was.connect,
        response: now.response - was.response,
        fivexx: now.fivexx - was.fivexx,
        consecutive: now.consecutive - was.consecutive,
      };
    });
    return out;
  }
  const none = { connect: 0, response: 0, fivexx: 0, consecutive: 0 };
  const app = (): [string, string][] => [['app', 'o']];

  it('-- a request served normally; L- a plugin answered', async () => {
    const c = await charged(app(), async () => {
      assert.equal(status(await converse(port, 'GET /served HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 200);
      assert.equal(status(await converse(port, 'GET /local HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 204);
    });
    assert.equal((await log.next('/served')).termination, '--');
    assert.equal((await log.next('/local')).termination, 'L-');
    assert.deepEqual(c.o, none);
  });

  it('PR: the gateway refuses a request head (several Host, a length over the limit, no route) with its 4xx or 503', async () => {
    const c = await charged(app(), async () => {
      assert.equal(status(await converse(port, 'GET /two-hosts HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n')), 400);
      assert.equal(status(await converse(port, 'POST /too-long HTTP/1.1\r\nhost: x\r\ncontent-length: 5000\r\n\r\n')), 413);
      assert.equal(status(await converse(gateway.port('bare'), 'GET /no-route HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 503);
    });
    for (const path of ['/two-hosts', '/too-long', '/no-route']) assert.equal((await log.next(path)).termination, 'PR', path);
    assert.deepEqual(c.o, none);
    assert.deepEqual(
      origin.seen.filter((p) => ['/two-hosts', '/too-long'].includes(p)),
      [],
    );
  });

  it('PB: a body that breaks its chunked framing gets 400, one past max_body_size 413, also while an async tap holds the request', async () => {
    const c = await charged(app(), async () => {
      assert.equal(status(await converse(port, 'POST /bad-chunk HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nZZ\r\nhello\r\n0\r\n\r\n')), 400);
      assert.equal(
        status(await converse(port, 'POST /huge-chunk HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n')),
        400,
      );
      // The async tap holds the request while its body arrives broken: the answer does not wait for the tap.
      const inTap = new Promise<void>((r) => tapped.set('/tap/bad-chunk', r));
      const reply = converse(
        port,
        'POST /tap/bad-chunk HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n',
        (s) => void inTap.then(() => s.write('ZZ\r\nhello\r\n0\r\n\r\n')),
      );
      assert.equal(status(await reply), 400);
      taps.get('/tap/bad-chunk')!();
      const big = `POST /upload-too-big HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n${'400\r\n' + 'y'.repeat(1024) + '\r\n'}${'400\r\n' + 'y'.repeat(1024) + '\r\n'}0\r\n\r\n`;
      assert.equal(status(await converse(port, big)), 413);
    });
    for (const path of ['/bad-chunk', '/huge-chunk', '/tap/bad-chunk', '/upload-too-big']) assert.equal((await log.next(path)).termination, 'PB', path);
    assert.deepEqual(c.o, none);
    assert.ok(!origin.seen.includes('/tap/bad-chunk'), 'a request whose body broke while a tap held it never reaches the server');
  });

  it('CB and cB: a client that closes, resets or goes silent during its upload is answered 400, nothing, or 408, and no server is charged', async () => {
    const c = await charged(app(), async () => {
      const head = (path: string) => `POST ${path} HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789`;
      // Half-closes: it can still read the 400.
      const arrivedClose = atOrigin('/upload-close');
      assert.equal(status(await converse(port, head('/upload-close'), (s) => void arrivedClose.then(() => s.end()))), 400);
      // Resets: nobody is left to answer.
      const arrivedReset = atOrigin('/upload-reset');
      assert.equal(await converse(port, head('/upload-reset'), (s) => void arrivedReset.then(() => s.resetAndDestroy())), '');
      // Goes silent: timeouts.client (300ms), then 408.
      assert.equal(status(await converse(port, head('/upload-silent'))), 408);
    });
    assert.deepEqual(
      [(await log.next('/upload-close')).termination, (await log.next('/upload-reset')).termination, (await log.next('/upload-silent')).termination],
      ['CB', 'CB', 'cB'],
    );
    assert.deepEqual(c.o, none, 'a client abandoning its upload costs the server nothing');
  });

  it('CR, CQ, CH, CD: a client that leaves while a plugin decides, in the queue, before the answer or during it is charged to nobody', async () => {
    const c = await charged(
      [
        ['app', 'o'],
        ['one-slot', 'q'],
      ],
      async () => {
        // CR: gone while an async tap holds the request; the request is not sent on after the tap.
        const inTap = new Promise<void>((r) => tapped.set('/tap/leave', r));
        await converse(port, 'GET /tap/leave HTTP/1.1\r\nhost: x\r\n\r\n', (s) => void inTap.then(() => s.resetAndDestroy()));
        await log.next('/tap/leave'); // the gateway saw the client go
        taps.get('/tap/leave')!();
        // CQ: the only slot is taken; the second request waits in the queue and its client leaves.
        const taken = atOrigin('/queue/hang');
        const first = converse(port, 'GET /queue/hang HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
        await taken;
        const oneSlot = gateway.generation.backends.get('one-slot')!;
        await converse(port, 'GET /queue/second HTTP/1.1\r\nhost: x\r\n\r\n', (s) => void until(() => oneSlot.queued === 1).then(() => s.resetAndDestroy()));
        await log.next('/queue/second');
        held.get('/queue/hang')!();
        assert.equal(status(await first), 200);
        // CH: the server has the request and thinks.
        const thinking = atOrigin('/ch/hang');
        await converse(port, 'GET /ch/hang HTTP/1.1\r\nhost: x\r\n\r\n', (s) => void thinking.then(() => s.resetAndDestroy()));
        await log.next('/ch/hang');
        held.get('/ch/hang')?.();
        // CD: the answer is under way.
        await converse(port, 'GET /cd/endless HTTP/1.1\r\nhost: x\r\n\r\n', (s) => s.once('data', () => s.resetAndDestroy()));
        await log.next('/cd/endless');
        held.get('/cd/endless')?.();
      },
    );
    assert.equal((await log.next('/tap/leave')).termination, 'CR');
    assert.ok(!origin.seen.includes('/tap/leave'), 'a request whose client left during the taps is not sent');
    assert.equal((await log.next('/queue/second')).termination, 'CQ');
    assert.equal((await log.next('/ch/hang')).termination, 'CH');
    assert.equal((await log.next('/cd/endless')).termination, 'CD');
    assert.deepEqual(c.o, none);
    assert.deepEqual(c.q, none);
  });

  it('RC and sQ: no server in service, or a slot not freed in time, is a 503 charged to no server', async () => {
    const c = await charged(
      [
        ['maint', 'm'],
        ['one-slot', 'q'],
      ],
      async () => {
        assert.equal(status(await converse(port, 'GET /nobody HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 503);
        const taken = atOrigin('/queue/again/hang');
        const first = converse(port, 'GET /queue/again/hang HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
        await taken;
        assert.equal(status(await converse(port, 'GET /queue/late HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 503);
        held.get('/queue/again/hang')!();
        await first;
      },
    );
    assert.equal((await log.next('/nobody')).termination, 'RC');
    assert.equal((await log.next('/queue/late')).termination, 'sQ');
    assert.deepEqual(c.m, none);
    assert.deepEqual(c.q, none);
  });

  it('SC and sC: a server that refuses or does not complete the connection is a 503, each try charged to its own server', async () => {
    const c = await charged(
      [
        ['dead', 'd1'],
        ['dead', 'd2'],
        ['stalling', 't'],
      ],
      async () => {
        assert.equal(status(await converse(port, 'GET /dead HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 503);
        assert.equal(status(await converse(port, 'GET /connect-timeout HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 503);
      },
    );
    const dead = await log.next('/dead');
    assert.deepEqual([dead.termination, dead.retries], ['SC', 1]);
    assert.equal((await log.next('/connect-timeout')).termination, 'sC');
    assert.deepEqual([c.d1!.connect, c.d2!.connect, c.t!.connect], [1, 1, 1], 'both tries, each on its server');
    assert.deepEqual([c.d1!.consecutive, c.d2!.consecutive, c.t!.consecutive], [1, 1, 1]);
  });

  it('a retry that succeeds is a clean -- line with retries: 1, the failed try charged to its server alone', async () => {
    const c = await charged(
      [
        ['retry', 'dead'],
        ['retry', 'good'],
      ],
      async () => {
        for (let i = 0; i < 4; i++) assert.equal(status(await converse(port, `GET /retry/${i} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)), 200);
      },
    );
    for (let i = 0; i < 4; i++) {
      const e = await log.next(`/retry/${i}`);
      assert.deepEqual([e.termination, e.retries, e.server, e.error], ['--', 1, 'good', undefined]);
    }
    assert.deepEqual(c.good, none);
    assert.equal(c.dead!.connect, 4);
    const backend = gateway
      .metrics()
      .find((s) => s.name === 'backend_connection_errors_total')!
      .values.find((v) => v.labels.backend === 'retry') as { value: number };
    assert.equal(backend.value, 4, 'one connection error per failed try, not per request and try');
  });

  it('SH and sH: a server that resets, closes, sends garbage or says nothing before its head is a 502 or 504, charged to it', async () => {
    const c = await charged(app(), async () => {
      for (const p of ['/sh/reset-head', '/sh/close-head', '/sh/garbage'])
        assert.equal(status(await converse(port, `GET ${p} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`)), 502, p);
      assert.equal(status(await converse(port, 'GET /sh/hang HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 504);
      held.get('/sh/hang')?.();
    });
    for (const p of ['/sh/reset-head', '/sh/close-head', '/sh/garbage']) assert.equal((await log.next(p)).termination, 'SH', p);
    assert.equal((await log.next('/sh/hang')).termination, 'sH');
    assert.deepEqual([c.o!.response, c.o!.fivexx, c.o!.consecutive], [4, 4, 4]);
  });

  it('SD and sD: a server that truncates, resets or stalls its body has the client connection closed, charged to it', async () => {
    const c = await charged(app(), async () => {
      for (const p of ['/sd/truncate', '/sd/reset-body', '/sd/stall-body']) {
        const reply = await converse(port, `GET ${p} HTTP/1.1\r\nhost: x\r\n\r\n`);
        assert.equal(status(reply), 200, p);
        assert.ok(reply.endsWith('x'.repeat(10)), `${p}: the client saw what came, then the connection closed`);
      }
    });
    assert.deepEqual(
      [(await log.next('/sd/truncate')).termination, (await log.next('/sd/reset-body')).termination, (await log.next('/sd/stall-body')).termination],
      ['SD', 'SD', 'sD'],
    );
    assert.deepEqual([c.o!.response, c.o!.consecutive], [3, 3]);
  });

  it('a server that answers 500 itself is a normal end, counted in its 5xx share', async () => {
    const c = await charged(app(), async () => {
      assert.equal(status(await converse(port, 'GET /x/server-500 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 500);
    });
    assert.equal((await log.next('/x/server-500')).termination, '--');
    assert.deepEqual([c.o!.fivexx, c.o!.response], [1, 0]);
  });

  it('IR and IH: a plugin that throws fails its request with 500, charged to no server', async () => {
    const c = await charged(app(), async () => {
      assert.equal(status(await converse(port, 'GET /plugin-throws HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 500);
      assert.equal(status(await converse(port, 'GET /plugin-throws-on-response HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n')), 500);
    });
    assert.equal((await log.next('/plugin-throws')).termination, 'IR');
    assert.equal((await log.next('/plugin-throws-on-response')).termination, 'IH');
    assert.deepEqual(c.o, none);
  });

  it('CT and ST: a tunnel cut by the client is charged to nobody, one cut by the server to it', async () => {
    const upgrade = (path: string) => `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: test\r\n\r\n`;
    const c = await charged(app(), async () => {
      const reply = await converse(port, upgrade('/tunnel-client-cut'), (s) => s.once('data', () => s.resetAndDestroy()));
      assert.equal(reply.slice(0, 12), 'HTTP/1.1 101');
      await log.next('/tunnel-client-cut');
    });
    assert.equal((await log.next('/tunnel-client-cut')).termination, 'CT');
    assert.deepEqual(c.o, none);
    const s = await charged(app(), async () => {
      assert.equal(status(await converse(port, upgrade('/tunnel-reset'), (s) => s.once('data', () => s.write('ping')))), 101);
      await log.next('/tunnel-reset');
    });
    assert.equal((await log.next('/tunnel-reset')).termination, 'ST');
    assert.equal(s.o!.response, 1);
  });

  it('cR: a client that never finishes its head gets 408 after timeouts.client_headers', async () => {
    assert.equal(status(await rawExchange(port, 'GET /slow HTTP/1.1\r\nhost: x\r\n', 5000)), 408);
  });
});
