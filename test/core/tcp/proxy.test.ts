import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { EventEmitter, once } from 'node:events';
import { createHash, randomFillSync } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';

// ---- What the gateway's plugins tell the test --------------------------------------

/** A finished session as the `tcp.closed` hook saw it. */
interface Session {
  frontend: string;
  /** The gateway's port and the client's: with the loopback address, they name the connection. */
  gatewayPort: number;
  clientPort: number;
  server: string | undefined;
  bytesIn: number;
  bytesOut: number;
  error: string | undefined;
  queueTime: number;
}

/** Shared with the plugins below through globalThis: they run in this process. */
class Probe {
  readonly errors: { plugin?: string; hook?: string }[] = [];
  /** Set to make the next `tcp.route` call of the flaky-route plugin throw. */
  throwNextRoute = false;
  readonly #closed = new Map<string, Session[]>();
  readonly #events = new EventEmitter();

  closed(s: Session): void {
    const key = `${s.gatewayPort}/${s.clientPort}`;
    this.#closed.set(key, [...(this.#closed.get(key) ?? []), s]);
    this.#events.emit(`closed ${key}`);
  }

  error(e: { plugin?: string; hook?: string }): void {
    this.errors.push(e);
  }

  /**
   * The session of a client connection (see `sessionKey`), once `tcp.closed` has fired
   * for it. Taken out, so a later connection that happens to reuse the ports is not
   * mistaken for it.
   */
  async session(key: string): Promise<Session> {
    if (!this.#closed.has(key)) await once(this.#events, `closed ${key}`);
    const sessions = this.#closed.get(key)!;
    this.#closed.delete(key);
    assert.equal(sessions.length, 1, 'tcp.closed fires once per session');
    return sessions[0]!;
  }
}

const probe = new Probe();
/** Names a client connection for `probe.session`; take it while the socket is connected. */
const sessionKey = (client: net.Socket) => `${client.remotePort}/${client.localPort}`;
(globalThis as { __tapgateTcpProbe?: Probe }).__tapgateTcpProbe = probe;

const plugins = {
  'probe.ts': `
    import { definePlugin } from 'tapgate/sdk';
    const probe = () => globalThis.__tapgateTcpProbe;
    export default definePlugin({
      name: 'session-probe',
      version: '1.0.0',
      setup(api) {
        api.hooks.tcp.closed.tap('session-probe', (ctx) => probe().closed({
          frontend: ctx.frontend, gatewayPort: ctx.local.port, clientPort: ctx.client.port, server: ctx.server?.name,
          bytesIn: ctx.bytesIn, bytesOut: ctx.bytesOut, error: ctx.error, queueTime: ctx.queueTime,
        }));
        api.hooks.app.error.tap('session-probe', (e) => probe().error({ plugin: e.plugin, hook: e.hook }));
      },
    });`,
  'flaky-route.ts': `
    import { definePlugin } from 'tapgate/sdk';
    export default definePlugin({
      name: 'flaky-route',
      version: '1.0.0',
      setup(api) {
        api.hooks.tcp.route.tap('flaky-route', () => {
          const probe = globalThis.__tapgateTcpProbe;
          if (!probe.throwNextRoute) return;
          probe.throwNextRoute = false;
          throw new Error('route failed on purpose');
        });
      },
    });`,
  'pick-fails-on-retry.ts': `
    import { definePlugin } from 'tapgate/sdk';
    export default definePlugin({
      name: 'pick-fails-on-retry',
      version: '1.0.0',
      setup(api) {
        api.hooks.tcp.pickServer.tap('pick-fails-on-retry', (ctx) => {
          ctx.state.picks = (ctx.state.picks ?? 0) + 1;
          if (ctx.state.picks === 2) throw new Error('no second pick');
        });
      },
    });`,
  'refuse.ts': `
    import { definePlugin } from 'tapgate/sdk';
    export default definePlugin({
      name: 'refuse-all',
      version: '1.0.0',
      setup(api) {
        api.hooks.tcp.accept.tap('refuse-all', () => false);
      },
    });`,
};

// ---- Origins: plain TCP servers on 127.0.0.1:0 -------------------------------------

interface TcpOrigin {
  server: net.Server;
  address: string;
  /** Connections accepted so far. */
  connections: number;
  close(): Promise<void>;
}

async function startTcpOrigin(onSocket: (socket: net.Socket) => void): Promise<TcpOrigin> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    origin.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    onSocket(socket);
  });
  const origin: TcpOrigin = {
    server,
    address: '',
    connections: 0,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.address = `127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return origin;
}

/** Reads everything, and answers with all of it only once the client has ended. */
const answerAfterEnd = (socket: net.Socket) => {
  const chunks: Buffer[] = [];
  socket.on('data', (d: Buffer) => chunks.push(d));
  socket.on('end', () => socket.end(Buffer.concat(chunks)));
};

/** Echoes as it reads, with back-pressure, and ends when the client does. */
const streamEcho = (socket: net.Socket) => void socket.pipe(socket);

/** Says its name and ends at once; reads (and drops) whatever the client sends. */
const named = (name: string) => (socket: net.Socket) => {
  socket.end(name);
  socket.resume();
};

/** Never says anything; ends when the client does. */
const silent = (socket: net.Socket) => {
  socket.resume();
  socket.on('end', () => socket.end());
};

/** Greets and ends its side first, then keeps reading; emits 'received' with all it got once the client ends. */
function greeterThenListener(received: EventEmitter) {
  return (socket: net.Socket) => {
    socket.end('hello\n');
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('end', () => received.emit('received', Buffer.concat(chunks)));
  };
}

/**
 * A port nobody listens on, so connecting is refused. It is taken below the range that
 * port 0 draws from (32768 and up on Linux, 49152 on macOS): a port released from that
 * range could be handed to one of this test's own listeners a moment later.
 */
async function refusingPort(): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    const server = net.createServer();
    const free = await new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen(port, '127.0.0.1', () => resolve(true));
    });
    if (!free) continue;
    await new Promise((resolve) => server.close(resolve));
    return port;
  }
  throw new Error('found no free port between 20000 and 32000');
}

/**
 * A server that never accepts: its thread is blocked and its accept queue is full, so
 * the kernel drops further SYNs and a connect to it neither succeeds nor fails.
 */
async function startBlackhole(): Promise<{ address: string; close(): Promise<void> }> {
  const gate = new Int32Array(new SharedArrayBuffer(4));
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     const server = require('node:net').createServer();
     server.listen({ host: '127.0.0.1', port: 0, backlog: 1 }, () => {
       parentPort.postMessage(server.address().port);
       Atomics.wait(workerData, 0, 0);
       server.close();
     });`,
    { eval: true, workerData: gate },
  );
  const [port] = (await once(worker, 'message')) as [number];
  // With backlog 1, Linux queues two established connections; the next SYN is dropped.
  const fillers: net.Socket[] = [];
  for (let i = 0; i < 2; i++) fillers.push(await connect(port));
  return {
    address: `127.0.0.1:${port}`,
    close: async () => {
      for (const f of fillers) f.destroy();
      Atomics.store(gate, 0, 1);
      Atomics.notify(gate, 0);
      await worker.terminate();
    },
  };
}

// ---- Clients ------------------------------------------------------------------------

async function connect(port: number, allowHalfOpen = false): Promise<net.Socket> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen });
  await once(socket, 'connect');
  return socket;
}

/** Everything the socket receives until its peer ends. */
function readToEnd(socket: net.Socket): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('error', reject);
  });
}

/** Resolves with what the socket received once it is closed, whether by an end, a reset or a destroy. */
function closed(socket: net.Socket): Promise<{ data: Buffer; error: string | undefined }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let error: string | undefined;
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    socket.resume();
    if (socket.destroyed) return resolve({ data: Buffer.alloc(0), error });
    socket.once('close', () => resolve({ data: Buffer.concat(chunks), error }));
  });
}

/** Sends `bytes`, reads the same number back. */
function roundTrip(socket: net.Socket, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const onData = (d: Buffer) => {
      got += d.toString('latin1');
      if (got.length < bytes.length) return;
      socket.off('data', onData).off('error', reject).pause();
      resolve(got);
    };
    socket.on('data', onData).once('error', reject).resume();
    socket.write(bytes);
  });
}

/** Connects, reads the server's whole answer, returns it with the session. */
async function answerOf(port: number): Promise<{ answer: string; session: Session }> {
  const client = await connect(port);
  const key = sessionKey(client);
  const answer = (await readToEnd(client)).toString();
  client.end();
  return { answer, session: await probe.session(key) };
}

const bigStream = 32 * 1024 * 1024;

/**
 * A long one-way stream: pseudo-random bytes written as fast as the socket takes them,
 * read slowly at the other end, hashed on both sides. Tracks the most bytes ever in
 * flight (written but not yet read), which sit in socket buffers: the kernel's and the
 * gateway's. With back-pressure the gateway holds little; without it, it would take in
 * nearly the whole stream ahead of the slow reader.
 */
class Flow {
  written = 0;
  read = 0;
  maxInFlight = 0;
  readonly #sent = createHash('sha256');
  readonly #got = createHash('sha256');

  #track(): void {
    this.maxInFlight = Math.max(this.maxInFlight, this.written - this.read);
  }

  async write(socket: net.Socket, size: number): Promise<void> {
    while (this.written < size) {
      const chunk = randomFillSync(Buffer.alloc(Math.min(64 * 1024, size - this.written)));
      this.#sent.update(chunk);
      this.written += chunk.length;
      this.#track();
      if (!socket.write(chunk)) await once(socket, 'drain');
    }
    socket.end();
  }

  /** One chunk, then a millisecond's pause: far slower than the writer. Resolves at the end. */
  readSlowly(socket: net.Socket): Promise<void> {
    return new Promise((resolve, reject) => {
      socket.on('data', (d: Buffer) => {
        this.#got.update(d);
        this.read += d.length;
        this.#track();
        socket.pause();
        setTimeout(() => socket.resume(), 1);
      });
      socket.once('end', resolve);
      socket.once('error', reject);
    });
  }

  assertIntact(size: number): void {
    assert.equal(this.read, size);
    assert.equal(this.#got.digest('hex'), this.#sent.digest('hex'), 'the stream arrived byte-exact');
    assert.ok(this.maxInFlight < size / 2, `${(this.maxInFlight / 2 ** 20).toFixed(1)} MB of ${size / 2 ** 20} MB were in flight at once`);
  }
}

/** Every test ends, pass or fail: a hang is a failure. */
const bounded = { timeout: 15_000 };

const elapsedSince = (start: number) => performance.now() - start;

// ---- The gateway under test ----------------------------------------------------------

function tcpBackend(servers: { name: string; address: string; weight?: number; maxconn?: number }[], extra: object = {}) {
  return { mode: 'tcp', balance: 'roundrobin', servers: servers.map((s) => ({ weight: 1, ...s })), ...extra };
}

describe('tcp proxy', () => {
  const greeterReceived = new EventEmitter();
  let origins: Record<string, TcpOrigin>;
  let blackhole: Awaited<ReturnType<typeof startBlackhole>>;
  const gateways = new Map<string, TestGateway>();

  before(async () => {
    const [echo, greeter, stream, a, b, quiet, held] = await Promise.all([
      startTcpOrigin(answerAfterEnd),
      startTcpOrigin(greeterThenListener(greeterReceived)),
      startTcpOrigin(streamEcho),
      startTcpOrigin(named('a')),
      startTcpOrigin(named('b')),
      startTcpOrigin(silent),
      // Does nothing by itself: the test drives the socket it accepts.
      startTcpOrigin(() => undefined),
    ]);
    origins = { echo, greeter, stream, a, b, quiet, held };
    blackhole = await startBlackhole();
    const dead = [`127.0.0.1:${await refusingPort()}`, `127.0.0.1:${await refusingPort()}`];
    // One gateway per scenario, each with a single frontend "relay" and the session probe.
    // (Listeners are keyed by bind address, so two frontends on 127.0.0.1:0 in one gateway would share a listener.)
    const relay = (backend: object, frontend: object = {}) =>
      startGateway(
        {
          plugins: [{ use: './probe.ts' }],
          frontends: { relay: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'relay', ...frontend } },
          backends: { relay: backend },
        },
        plugins,
      );
    const scenarios: Record<string, Promise<TestGateway>> = {
      echo: relay(tcpBackend([{ name: 'echo', address: echo.address }])),
      greeter: relay(tcpBackend([{ name: 'greeter', address: greeter.address }])),
      stream: relay(tcpBackend([{ name: 'stream', address: stream.address }])),
      held: relay(tcpBackend([{ name: 'held', address: held.address }])),
      alternate: relay(
        tcpBackend([
          { name: 'a', address: a.address },
          { name: 'b', address: b.address },
        ]),
      ),
      weighted: relay(
        tcpBackend([
          { name: 'a', address: a.address, weight: 2 },
          { name: 'b', address: b.address, weight: 1 },
        ]),
      ),
      retry: relay(
        tcpBackend(
          [
            { name: 'dead', address: dead[0]! },
            { name: 'b', address: b.address },
          ],
          { retries: 1 },
        ),
      ),
      dead: relay(
        tcpBackend(
          [
            { name: 'dead0', address: dead[0]! },
            { name: 'dead1', address: dead[1]! },
          ],
          { retries: 2 },
        ),
      ),
      blackhole: relay(tcpBackend([{ name: 'blackhole', address: blackhole.address }], { retries: 0, timeouts: { connect: '200ms' } })),
      'blackhole-retry': relay(
        tcpBackend(
          [
            { name: 'blackhole', address: blackhole.address },
            { name: 'b', address: b.address },
          ],
          { retries: 1, timeouts: { connect: '200ms' } },
        ),
      ),
      'client-idle': relay(tcpBackend([{ name: 'quiet', address: quiet.address }], { timeouts: { server: '10s' } }), { timeouts: { client: '150ms' } }),
      'server-idle': relay(tcpBackend([{ name: 'quiet', address: quiet.address }], { timeouts: { server: '150ms' } }), { timeouts: { client: '10s' } }),
      chatty: relay(tcpBackend([{ name: 'stream', address: stream.address }], { timeouts: { server: '300ms' } }), { timeouts: { client: '300ms' } }),
      plugged: relay(tcpBackend([{ name: 'stream', address: stream.address }]), { plugins: [{ use: './flaky-route.ts' }] }),
      'pick-fails-on-retry': relay(
        tcpBackend(
          [
            { name: 'dead', address: dead[0]! },
            { name: 'b', address: b.address },
          ],
          { retries: 1 },
        ),
        {
          plugins: [{ use: './pick-fails-on-retry.ts' }],
        },
      ),
      guarded: relay(tcpBackend([{ name: 'a', address: a.address }]), { plugins: [{ use: './refuse.ts' }] }),
      queued: relay(tcpBackend([{ name: 'stream', address: stream.address, maxconn: 1 }], { timeouts: { queue: '10s' } }), { timeouts: { client: '600ms' } }),
      'queue-timeout': relay(tcpBackend([{ name: 'stream', address: stream.address, maxconn: 1 }], { timeouts: { queue: '200ms' } })),
    };
    const started = await Promise.allSettled(Object.values(scenarios));
    Object.keys(scenarios).forEach((name, i) => {
      const result = started[i]!;
      if (result.status === 'fulfilled') gateways.set(name, result.value);
    });
    const failed = started.find((r) => r.status === 'rejected');
    if (failed) throw failed.reason;
  });

  after(async () => {
    await Promise.all([...gateways.values()].map((g) => g.close()));
    await Promise.all([...Object.values(origins ?? {}).map((o) => o.close()), blackhole?.close()]);
  });

  const port = (scenario: string) => gateways.get(scenario)!.port();
  const serversOf = (scenario: string) => gateways.get(scenario)!.gateway.generation.backends.get('relay')!.servers;

  /** Waits (bounded) until `n` sessions wait in the scenario's queue: nothing tells when the gateway has queued one. */
  const queuedIn = async (scenario: string, n: number) => {
    const backend = gateways.get(scenario)!.gateway.generation.backends.get('relay')!;
    for (let i = 0; i < 400 && backend.queued !== n; i++) await new Promise((r) => setTimeout(r, 5));
    assert.equal(backend.queued, n, `${n} sessions waiting in the queue`);
  };

  /** Every session seen so far has given its server back: `active` is back to zero everywhere. */
  const assertNoActiveSessions = () => {
    for (const scenario of gateways.keys()) {
      for (const server of serversOf(scenario)) assert.equal(server.active, 0, `${scenario}: ${server.id} still counts ${server.active} active sessions`);
    }
  };

  it(
    'pipes an echo byte-exact and passes the client half-close on: the server answers after the end, the client gets every byte and an end',
    bounded,
    async () => {
      const payload = randomFillSync(Buffer.alloc(256 * 1024 + 7));
      const client = await connect(port('echo'), true);
      const key = sessionKey(client);
      const answer = readToEnd(client);
      client.end(payload);
      assert.ok((await answer).equals(payload), 'the echo came back byte-exact');
      await closed(client);
      const session = await probe.session(key);
      const { gatewayPort, clientPort, ...rest } = session;
      assert.deepEqual(rest, { frontend: 'relay', server: 'echo', bytesIn: payload.length, bytesOut: payload.length, error: undefined, queueTime: 0 });
      assertNoActiveSessions();
    },
  );

  it('passes the server half-close on while the client keeps sending, and the server gets every byte', bounded, async () => {
    const client = await connect(port('greeter'), true);
    const key = sessionKey(client);
    // The server has ended its side: the client sees the greeting and an end...
    assert.equal((await readToEnd(client)).toString(), 'hello\n');
    // ...and can still send, the gateway passing it all on until the client ends too.
    const received = once(greeterReceived, 'received');
    const parts = ['after ', 'the server ', 'ended'].map((s) => Buffer.from(s));
    for (const p of parts) client.write(p);
    client.end();
    const [got] = (await received) as [Buffer];
    assert.equal(got.toString(), 'after the server ended');
    await closed(client);
    const session = await probe.session(key);
    assert.equal(session.bytesIn, got.length);
    assert.equal(session.bytesOut, 'hello\n'.length);
    assert.equal(session.error, undefined);
    assertNoActiveSessions();
  });

  it('streams 32 MB from the client to a slowly reading server byte-exact (by hash), with back-pressure bounding what is in flight', bounded, async () => {
    const accepted = once(origins.held!.server, 'connection');
    const client = await connect(port('held'));
    const key = sessionKey(client);
    const [serverSide] = (await accepted) as [net.Socket];
    const flow = new Flow();
    await Promise.all([flow.write(client, bigStream), flow.readSlowly(serverSide)]);
    serverSide.end();
    await closed(client);
    flow.assertIntact(bigStream);
    const session = await probe.session(key);
    assert.equal(session.bytesIn, bigStream);
    assert.equal(session.bytesOut, 0);
    assertNoActiveSessions();
  });

  it('streams 32 MB from the server to a slowly reading client byte-exact (by hash), with back-pressure bounding what is in flight', bounded, async () => {
    const accepted = once(origins.held!.server, 'connection');
    const client = await connect(port('held'));
    const key = sessionKey(client);
    const [serverSide] = (await accepted) as [net.Socket];
    const flow = new Flow();
    await Promise.all([flow.write(serverSide, bigStream), flow.readSlowly(client)]);
    await closed(serverSide);
    flow.assertIntact(bigStream);
    const session = await probe.session(key);
    assert.equal(session.bytesIn, 0);
    assert.equal(session.bytesOut, bigStream);
    assertNoActiveSessions();
  });

  it('places successive connections on alternating servers under roundrobin', bounded, async () => {
    const seen: string[] = [];
    for (let i = 0; i < 6; i++) seen.push((await answerOf(port('alternate'))).answer);
    assert.deepEqual(seen, ['a', 'b', 'a', 'b', 'a', 'b']);
    assertNoActiveSessions();
  });

  it('honours weights per connection: weights 2 and 1 give a, a, b in every cycle of three', bounded, async () => {
    const seen: string[] = [];
    for (let i = 0; i < 12; i++) seen.push((await answerOf(port('weighted'))).answer);
    for (let i = 0; i < 12; i += 3) assert.deepEqual(seen.slice(i, i + 3).sort(), ['a', 'a', 'b'], seen.join(' '));
    assertNoActiveSessions();
  });

  it('retries a refused server on the next one, and every connection succeeds', bounded, async () => {
    for (let i = 0; i < 4; i++) {
      const { answer, session } = await answerOf(port('retry'));
      assert.equal(answer, 'b');
      assert.equal(session.server, 'b');
      assert.equal(session.error, undefined);
    }
    const dead = serversOf('retry').find((s) => s.name === 'dead')!;
    assert.ok(dead.total >= 1, 'the refused server was tried');
    assertNoActiveSessions();
  });

  it('closes the client promptly when every server refuses, after trying each retry', bounded, async () => {
    const start = performance.now();
    const client = await connect(port('dead'));
    const key = sessionKey(client);
    const { data } = await closed(client);
    assert.ok(elapsedSince(start) < 1000, `closed after ${elapsedSince(start).toFixed(0)} ms`);
    assert.equal(data.length, 0);
    const session = await probe.session(key);
    assert.match(session.error ?? '', /ECONNREFUSED/);
    const servers = serversOf('dead');
    assert.equal(
      servers.reduce((n, s) => n + s.total, 0),
      3,
      'one attempt and two retries',
    );
    assertNoActiveSessions();
  });

  it('gives up on a server that does not answer within timeouts.connect, and closes the client', bounded, async () => {
    const start = performance.now();
    const client = await connect(port('blackhole'));
    const key = sessionKey(client);
    const { data } = await closed(client);
    const elapsed = elapsedSince(start);
    assert.ok(elapsed >= 190 && elapsed < 2000, `closed after ${elapsed.toFixed(0)} ms, connect timeout is 200 ms`);
    assert.equal(data.length, 0);
    const session = await probe.session(key);
    assert.match(session.error ?? '', /connect timeout/);
    assertNoActiveSessions();
  });

  it('tries the next server after a connect timeout', bounded, async () => {
    const start = performance.now();
    const { answer, session } = await answerOf(port('blackhole-retry'));
    assert.equal(answer, 'b');
    assert.equal(session.server, 'b');
    assert.ok(elapsedSince(start) >= 190, 'the first server was given its connect timeout');
    assertNoActiveSessions();
  });

  it('closes both sides when the client is idle longer than timeouts.client', bounded, async () => {
    const accepted = once(origins.quiet!.server, 'connection');
    const start = performance.now();
    const client = await connect(port('client-idle'));
    const key = sessionKey(client);
    const [serverSide] = (await accepted) as [net.Socket];
    await Promise.all([closed(client), closed(serverSide)]);
    const elapsed = elapsedSince(start);
    assert.ok(elapsed >= 140 && elapsed < 2000, `closed after ${elapsed.toFixed(0)} ms, client timeout is 150 ms`);
    assert.equal((await probe.session(key)).error, 'client timeout');
    assertNoActiveSessions();
  });

  it('closes both sides when the server is idle longer than timeouts.server', bounded, async () => {
    const accepted = once(origins.quiet!.server, 'connection');
    const start = performance.now();
    const client = await connect(port('server-idle'));
    const key = sessionKey(client);
    const [serverSide] = (await accepted) as [net.Socket];
    await Promise.all([closed(client), closed(serverSide)]);
    const elapsed = elapsedSince(start);
    assert.ok(elapsed >= 140 && elapsed < 2000, `closed after ${elapsed.toFixed(0)} ms, server timeout is 150 ms`);
    assert.equal((await probe.session(key)).error, 'server timeout');
    assertNoActiveSessions();
  });

  it('counts idle timeouts from the last byte, so a session that keeps talking outlives them', bounded, async () => {
    const client = await connect(port('chatty'));
    const key = sessionKey(client);
    const start = performance.now();
    // Twelve exchanges 50 ms apart: twice the 300 ms timeouts, never idle for long.
    for (let i = 0; i < 12; i++) {
      assert.equal(await roundTrip(client, `ping ${i}\n`), `ping ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(elapsedSince(start) > 600);
    client.end();
    await closed(client);
    assert.equal((await probe.session(key)).error, undefined);
    assertNoActiveSessions();
  });

  it('closes both sides when the client resets the connection', bounded, async () => {
    const accepted = once(origins.stream!.server, 'connection');
    const client = await connect(port('stream'));
    const key = sessionKey(client);
    assert.equal(await roundTrip(client, 'hi'), 'hi');
    const [serverSide] = (await accepted) as [net.Socket];
    const serverClosed = closed(serverSide);
    client.resetAndDestroy();
    await serverClosed;
    assert.match((await probe.session(key)).error ?? '', /^client: /);
    assertNoActiveSessions();
  });

  it('closes both sides when the server resets the connection', bounded, async () => {
    const accepted = once(origins.stream!.server, 'connection');
    const client = await connect(port('stream'));
    const key = sessionKey(client);
    assert.equal(await roundTrip(client, 'hi'), 'hi');
    const [serverSide] = (await accepted) as [net.Socket];
    const clientClosed = closed(client);
    serverSide.resetAndDestroy();
    await clientClosed;
    assert.match((await probe.session(key)).error ?? '', /^server: /);
    assertNoActiveSessions();
  });

  it('a route tap that throws closes only that connection, reports the plugin, and the next connection is served', bounded, async () => {
    const first = await connect(port('plugged'));
    assert.equal(await roundTrip(first, 'before'), 'before');

    probe.throwNextRoute = true;
    const failing = await connect(port('plugged'));
    const failingKey = sessionKey(failing);
    const { data } = await closed(failing);
    assert.equal(data.length, 0);
    const failed = await probe.session(failingKey);
    assert.match(failed.error ?? '', /flaky-route/);
    assert.equal(failed.server, undefined);
    assert.ok(
      probe.errors.some((e) => e.plugin === 'flaky-route' && e.hook === 'tcp.route'),
      'the error names the plugin and the hook',
    );

    // The connection that was already open is untouched, and a new one is served.
    assert.equal(await roundTrip(first, 'still here'), 'still here');
    const next = await connect(port('plugged'));
    assert.equal(await roundTrip(next, 'after'), 'after');
    const keys = [sessionKey(first), sessionKey(next)];
    first.end();
    next.end();
    await Promise.all([closed(first), closed(next)]);
    for (const key of keys) assert.equal((await probe.session(key)).error, undefined);
    assertNoActiveSessions();
  });

  it('a pickServer tap that throws while retrying closes only that connection, and gives the refused server back', bounded, async () => {
    // Roundrobin sends the first connection to the dead server; the retry's pick throws.
    const failing = await connect(port('pick-fails-on-retry'));
    const failingKey = sessionKey(failing);
    const { data } = await closed(failing);
    assert.equal(data.length, 0);
    assert.match((await probe.session(failingKey)).error ?? '', /pick-fails-on-retry/);
    assert.ok(probe.errors.some((e) => e.plugin === 'pick-fails-on-retry' && e.hook === 'tcp.pickServer'));
    // The next connection goes to the live server on its first pick.
    const { answer } = await answerOf(port('pick-fails-on-retry'));
    assert.equal(answer, 'b');
    assertNoActiveSessions();
  });

  it('queues a session while its server is at maxconn, and passes the slot of one whose client left while waiting to the next in line', bounded, async () => {
    const holder = await connect(port('queued'));
    const holderKey = sessionKey(holder);
    assert.equal(await roundTrip(holder, 'first'), 'first');
    // A queued client is not read from (its socket is paused): it leaves by going idle past timeouts.client.
    const leaving = await connect(port('queued'));
    const leavingKey = sessionKey(leaving);
    await queuedIn('queued', 1);
    const left = probe.session(leavingKey);
    let gone = false;
    void left.then(() => (gone = true));
    // The holder keeps talking meanwhile, so its own idle timeout never fires.
    for (let i = 0; i < 100 && !gone; i++) {
      assert.equal(await roundTrip(holder, `ping ${i}\n`), `ping ${i}\n`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal((await left).error, 'client timeout');
    assert.equal((await left).server, undefined, 'it never reached a server');
    // Its place in the queue stays until a slot comes; the next session waits behind it.
    const waiting = await connect(port('queued'));
    const waitingKey = sessionKey(waiting);
    await queuedIn('queued', 2);
    // The holder's end frees the slot: it goes to the first in line, who left, and from it to the next.
    const start = performance.now();
    holder.end();
    assert.equal(await roundTrip(waiting, 'second'), 'second');
    assert.ok(elapsedSince(start) < 5000, `served after ${elapsedSince(start).toFixed(0)} ms, not at the queue timeout`);
    waiting.end();
    const served = await probe.session(waitingKey);
    assert.equal(served.error, undefined);
    assert.equal(served.server, 'stream');
    assert.ok(served.queueTime > 0, 'its wait in the queue is counted');
    assert.equal((await probe.session(holderKey)).error, undefined);
    assertNoActiveSessions();
  });

  it('closes a session that waited in the queue longer than timeouts.queue', bounded, async () => {
    const holder = await connect(port('queue-timeout'));
    assert.equal(await roundTrip(holder, 'held'), 'held');
    const start = performance.now();
    const late = await connect(port('queue-timeout'));
    const key = sessionKey(late);
    const { data } = await closed(late);
    const elapsed = elapsedSince(start);
    assert.ok(elapsed >= 190 && elapsed < 2000, `closed after ${elapsed.toFixed(0)} ms, the queue timeout is 200 ms`);
    assert.equal(data.length, 0);
    const session = await probe.session(key);
    assert.equal(session.error, 'queue timeout');
    assert.ok(session.queueTime >= 190, `waited ${session.queueTime.toFixed(0)} ms in the queue`);
    holder.end();
    await probe.session(sessionKey(holder));
    assertNoActiveSessions();
  });

  it('a tcp.accept tap returning false closes the connection before any server is tried', bounded, async () => {
    const before = origins.a!.connections;
    const client = await connect(port('guarded'));
    const key = sessionKey(client);
    const { data } = await closed(client);
    assert.equal(data.length, 0);
    const session = await probe.session(key);
    assert.equal(session.error, 'refused by accept');
    assert.equal(session.server, undefined);
    assert.equal(origins.a!.connections, before);
    assertNoActiveSessions();
  });
});

describe('tcp proxy on a gateway that is killed', () => {
  it('closes the server side of every open session', bounded, async () => {
    const origin = await startTcpOrigin(streamEcho);
    const gw = await startGateway({
      frontends: { relay: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'relay' } },
      backends: { relay: tcpBackend([{ name: 'echo', address: origin.address }]) },
    });
    try {
      const accepted = once(origin.server, 'connection');
      const client = await connect(gw.port());
      assert.equal(await roundTrip(client, 'hi'), 'hi');
      const [serverSide] = (await accepted) as [net.Socket];
      const both = Promise.all([closed(client), closed(serverSide)]);
      await gw.close();
      await both;
    } finally {
      await origin.close();
    }
  });
});
