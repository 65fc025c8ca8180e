// RawSocket drives accepted TCP connections on node's internal stream bindings: these
// tests pin what it relies on (reads into a shared buffer, writes sync and queued, writev, shutdown, close,
// errors) and the net.Socket behaviour the HTTP/1 engine expects of it, over loopback.
import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { RawSocket, acceptRaw } from '../../../core/net/raw-socket.ts';

const servers: net.Server[] = [];
/** Connections a test may leave half-open: destroyed after it, so the file's process can end. */
const open: { destroy(): unknown }[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
});

/** A listening server whose connections are RawSockets, handed to `onSocket`. */
async function rawServer(onSocket: (socket: RawSocket) => void, maxConnections?: number): Promise<{ server: net.Server; port: number }> {
  const server = net.createServer();
  if (maxConnections) server.maxConnections = maxConnections;
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  acceptRaw(server, onSocket);
  return { server, port: (server.address() as net.AddressInfo).port };
}

async function connect(port: number): Promise<net.Socket> {
  const client = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  open.push(client);
  await once(client, 'connect');
  return client;
}

/** Everything the peer sends until its FIN. */
async function readAll(socket: net.Socket): Promise<string> {
  let out = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (out += d));
  await once(socket, 'end');
  return out;
}

/** The next RawSocket the server accepts. */
function nextSocket(): { onSocket: (s: RawSocket) => void; accepted: Promise<RawSocket> } {
  let resolve!: (s: RawSocket) => void;
  const accepted = new Promise<RawSocket>((r) => (resolve = r));
  return {
    onSocket: (s) => {
      s.on('error', () => undefined); // a peer's reset after a test is done with it
      open.push(s);
      resolve(s);
    },
    accepted,
  };
}

/** A RawSocket accepted from a client connected to a fresh server, and that client. */
async function pair(): Promise<{ client: net.Socket; raw: RawSocket; port: number }> {
  const next = nextSocket();
  const { port } = await rawServer(next.onSocket);
  const client = await connect(port);
  return { client, raw: await next.accepted, port };
}

describe('RawSocket', () => {
  it('reads what the peer sends, writes strings (latin1, utf8) and buffers in order, and calls back after each write', async () => {
    const { client, raw } = await pair();
    client.write('ping');
    const [chunk] = (await once(raw, 'data')) as [Buffer];
    assert.ok(Buffer.isBuffer(chunk));
    assert.equal(chunk.toString(), 'ping');
    const calls: string[] = [];
    raw.write('a\xe9', 'latin1', () => calls.push('latin1'));
    raw.write('é', () => calls.push('utf8'));
    raw.write(Buffer.from('!'), () => calls.push('buffer'));
    assert.deepEqual(calls, [], 'callbacks run after the write returns, as net.Socket runs them');
    const got = readAll(client);
    raw.end();
    assert.deepEqual(Buffer.from(await got, 'latin1'), Buffer.concat([Buffer.from('a\xe9', 'latin1'), Buffer.from('é'), Buffer.from('!')]));
    assert.deepEqual(calls, ['latin1', 'utf8', 'buffer']);
    assert.equal(raw.writableFinished, true);
    client.end();
    const [hadError] = await once(raw, 'close');
    assert.equal(hadError, false);
    assert.equal(raw.destroyed, true);
  });

  it('sends what was written while corked in one writev, with every callback', async () => {
    const { client, raw } = await pair();
    const got = readAll(client);
    let called = 0;
    raw.cork();
    raw.write('HTTP/1.1 200 OK\r\n', 'latin1');
    raw.write(Buffer.from('a: b\r\n\r\n'), () => called++);
    raw.write('body', 'latin1', () => called++);
    raw.uncork();
    raw.cork();
    raw.write(Buffer.from('+'));
    raw.write(Buffer.from('buffers only'), () => called++);
    raw.end();
    assert.equal(await got, 'HTTP/1.1 200 OK\r\na: b\r\n\r\nbody+buffers only');
    assert.equal(called, 3);
  });

  it('is half-open: the peer ends first, answers still go out, and it closes once both sides are done', async () => {
    const { client, raw } = await pair();
    const got = readAll(client);
    client.end('question');
    let heard = '';
    raw.on('data', (d: Buffer) => (heard += d));
    await once(raw, 'end');
    assert.equal(heard, 'question');
    assert.equal(raw.readableEnded, true);
    assert.equal(raw.destroyed, false, 'our side may still answer');
    const closed = once(raw, 'close');
    raw.end('answer');
    assert.equal(await got, 'answer');
    await closed;
  });

  it('says when the peer does not keep up (write → false), and emits drain once the queue is written', async () => {
    const { client, raw } = await pair();
    client.pause();
    const big = Buffer.alloc(1024 * 1024, 'x');
    let writes = 0;
    while (raw.write(big) && writes < 64) writes++;
    assert.ok(writes < 64, 'a paused peer fills the socket buffers');
    assert.equal(raw.writableNeedDrain, true);
    const drained = once(raw, 'drain');
    let read = 0;
    client.on('data', (d: Buffer) => (read += d.length));
    client.resume();
    await drained;
    assert.equal(raw.writableNeedDrain, false);
    raw.end();
    await once(client, 'end');
    assert.equal(read, (writes + 1) * big.length, 'every byte arrived, the one write that said wait included');
  });

  it('reads nothing while paused, and what waited once resumed', async () => {
    const { client, raw } = await pair();
    let heard = '';
    raw.on('data', (d: Buffer) => (heard += d));
    raw.pause();
    client.write('one');
    // A round trip the other way: by its end, 'one' has long been in raw's receive buffer.
    raw.write('ping');
    await once(client, 'data');
    await new Promise((r) => setImmediate(r));
    assert.equal(heard, '');
    raw.resume();
    await once(raw, 'data');
    assert.equal(heard, 'one');
    client.destroy();
  });

  it('reports a reset by the peer as an error, then close(true)', async () => {
    const { client, raw } = await pair();
    const events: string[] = [];
    raw.on('error', (err: NodeJS.ErrnoException) => events.push(`error ${err.code}`));
    // (events.once would reject with the error itself)
    const closed = new Promise<[boolean]>((resolve) => raw.once('close', (hadError: boolean) => resolve([hadError])));
    client.resetAndDestroy();
    const [hadError] = await closed;
    assert.equal(hadError, true);
    assert.deepEqual(events, ['error ECONNRESET']);
  });

  it('emits timeout after the idle time set, and activity puts it off', async () => {
    const { client, raw } = await pair();
    raw.on('data', () => undefined);
    const start = performance.now();
    raw.setTimeout(150);
    client.write('x');
    await new Promise((r) => setTimeout(r, 100));
    client.write('y'); // at ~100 ms: the timeout moves to ~250 ms
    await once(raw, 'timeout');
    assert.ok(performance.now() - start >= 240, `timed out ${Math.round(performance.now() - start)} ms after being set`);
    assert.equal(raw.destroyed, false, 'a timeout only tells');
    raw.setTimeout(0);
    raw.destroy();
    await once(raw, 'close');
    client.destroy();
  });

  it('calls an attached owner for data, end, timeout and close, before their listeners; data goes to the owner alone', async () => {
    const { client, raw } = await pair();
    const heard: string[] = [];
    raw.attach({
      rawData: (chunk) => heard.push(`data ${chunk.toString()}`),
      rawEnd: () => heard.push('end'),
      rawTimeout: () => heard.push('timeout'),
      rawClose: (hadError) => heard.push(`close ${hadError}`),
    });
    raw.on('data', () => heard.push('data listener'));
    raw.on('end', () => heard.push('end listener'));
    raw.on('timeout', () => heard.push('timeout listener'));
    raw.setTimeout(50);
    client.write('ping');
    await once(raw, 'timeout');
    raw.setTimeout(0);
    client.end();
    await once(raw, 'end');
    const closed = once(raw, 'close');
    raw.on('close', () => heard.push('close listener'));
    raw.end();
    await closed;
    assert.deepEqual(heard, ['data ping', 'timeout', 'timeout listener', 'end', 'end listener', 'close false', 'close listener']);
  });

  it('an owned connection with no listeners: a reset reaches its owner as a close with an error, and close hooks run after it', async () => {
    const heard: string[] = [];
    let raw!: RawSocket;
    let closed!: () => void, read!: () => void;
    const done = new Promise<void>((r) => (closed = r));
    const data = new Promise<void>((r) => (read = r));
    const { port } = await rawServer((s) => {
      raw = s;
      // No 'error' listener: an unhandled 'error' would end this process.
      s.attach({
        rawData: () => (heard.push('data'), read()),
        rawEnd: () => heard.push('end'),
        rawTimeout: () => undefined,
        rawClose: (e) => heard.push(`close ${e}`),
      });
      s.onClose(function (this: RawSocket) {
        heard.push(`hook ${this === s}`);
        closed();
      });
    });
    const client = await connect(port);
    client.write('x');
    await data;
    client.resetAndDestroy();
    await done;
    assert.deepEqual(heard, ['data', 'close true', 'hook true']);
    assert.equal(raw.listenerCount('error'), 0);
    assert.equal((raw as unknown as { _events: unknown })._events, undefined, 'no listener table was made');
  });

  it('calls its owner on close after handing its connection to a net.Socket', async () => {
    const { client, raw } = await pair();
    const closes: boolean[] = [];
    raw.attach({ rawData: () => undefined, rawEnd: () => undefined, rawTimeout: () => undefined, rawClose: (hadError) => closes.push(hadError) });
    const socket = raw.toSocket();
    const closed = once(raw, 'close');
    socket.destroy();
    await closed;
    assert.deepEqual(closes, [false]);
    client.destroy();
  });

  it('knows both ends of the connection', async () => {
    const { client, raw, port } = await pair();
    assert.equal(raw.remoteAddress, '127.0.0.1');
    assert.equal(raw.remotePort, client.localPort);
    assert.equal(raw.remoteFamily, 'IPv4');
    assert.equal(raw.localAddress, '127.0.0.1');
    assert.equal(raw.localPort, port);
    client.destroy();
  });

  it('hands its connection to a net.Socket: reading resumes there, and its own calls and close follow it', async () => {
    const { client, raw } = await pair();
    client.write('before');
    await once(raw, 'data');
    raw.write('raw wrote this; ');
    const socket = raw.toSocket();
    assert.ok(socket instanceof net.Socket);
    assert.equal(raw.toSocket(), socket);
    const got = readAll(client);
    client.write('after');
    const [chunk] = (await once(socket, 'data')) as [Buffer];
    assert.equal(chunk.toString(), 'after');
    socket.write('the socket this');
    const closed = once(raw, 'close');
    raw.end(); // follows the socket
    assert.equal(await got, 'raw wrote this; the socket this');
    client.end();
    await closed;
    assert.equal(socket.destroyed, true);
  });

  it('reads into one buffer shared by every RawSocket: a chunk lasts until the next read, a handed-over socket gets copies', async () => {
    const one = await pair();
    const two = await pair();
    one.client.write('first');
    const [chunk] = (await once(one.raw, 'data')) as [Buffer];
    const kept = chunk; // what a listener must not do: keep it without a copy
    assert.equal(kept.toString(), 'first');
    two.client.write('SECOND');
    await once(two.raw, 'data');
    assert.equal(kept.toString(), 'SECON', 'the next read, on another connection, landed in the same bytes');

    const socket = one.raw.toSocket();
    one.client.write('handed over');
    const [handed] = (await once(socket, 'data')) as [Buffer];
    two.client.write('meanwhile, another read');
    await once(two.raw, 'data');
    assert.equal(handed.toString(), 'handed over', 'a net.Socket keeps what it pushed');
    one.client.destroy();
    two.client.destroy();
  });

  it('counts its connections in the server: maxConnections refuses one over, close() waits for those open', async () => {
    const accepted: RawSocket[] = [];
    const { server, port } = await rawServer((s) => {
      open.push(s);
      accepted.push(s);
    }, 1);
    const first = await connect(port);
    const second = await connect(port);
    await once(second, 'end'); // refused: closed at once by the server
    second.destroy();
    assert.equal(accepted.length, 1);
    let closed = false;
    server.close(() => (closed = true));
    first.write('still here');
    await once(accepted[0]!, 'data');
    assert.equal(closed, false, 'an open connection keeps close() waiting');
    accepted[0]!.end();
    first.end();
    await once(server, 'close');
    assert.equal(closed, true);
  });

  it('connects out: writes made before the connection wait for it, and it reads the answer', async () => {
    const server = net.createServer({ allowHalfOpen: true }, (socket) => {
      open.push(socket);
      let heard = '';
      socket.on('data', (d: Buffer) => (heard += d));
      socket.on('end', () => socket.end(`heard ${heard}`));
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const raw = RawSocket.connect('127.0.0.1', (server.address() as net.AddressInfo).port);
    open.push(raw);
    assert.equal(raw.connecting, true);
    let called = false;
    raw.write('one, ', 'latin1', () => (called = true));
    raw.write(Buffer.from('two'));
    raw.end();
    let answer = '';
    raw.on('data', (d: Buffer) => (answer += d));
    await once(raw, 'connect');
    assert.equal(raw.connecting, false);
    const closed = once(raw, 'close');
    await once(raw, 'end');
    assert.equal(answer, 'heard one, two');
    assert.equal(called, true);
    await closed;
  });

  it('says why a connection cannot be made as net.Socket does (code, address, port), then closes', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve)); // nothing listens there now
    const raw = RawSocket.connect('127.0.0.1', port);
    let writeError: Error | null | undefined;
    raw.write('never sent', 'latin1', (e) => (writeError = e));
    const [err] = (await once(raw, 'error')) as [NodeJS.ErrnoException & { address: string; port: number }];
    assert.equal(err.code, 'ECONNREFUSED');
    assert.equal(err.message, `connect ECONNREFUSED 127.0.0.1:${port}`);
    assert.equal(err.port, port);
    const [hadError] = await once(raw, 'close');
    assert.equal(hadError, true);
    assert.equal(writeError, err, 'a write waiting for the connection hears why it was not made');
  });

  it('connects to an IPv6 address', async () => {
    const server = net.createServer((socket) => {
      open.push(socket);
      socket.end('v6');
    });
    servers.push(server);
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    const raw = RawSocket.connect('::1', (server.address() as net.AddressInfo).port);
    let answer = '';
    raw.on('data', (d: Buffer) => (answer += d));
    await once(raw, 'end');
    assert.equal(answer, 'v6');
    assert.equal(raw.remoteAddress, '::1');
    raw.destroy();
  });
});
