// HTTP/2 frame rules (RFC 9113) that node's own session does not keep, kept by the frame
// guard in front of it (core/http/h2/guard.ts): a client speaks raw frames to an h2c port
// (and one TLS port) and reads what comes back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { preface, frame as rawFrame } from '../../fuzz/arbitraries/http2.ts';
import { testPki } from '../tls/pki.ts';

const pki = testPki();

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const ACK = 0x1;
const PROTOCOL_ERROR = 0x1;
const FLOW_CONTROL_ERROR = 0x3;
const STREAM_CLOSED = 0x5;
const CANCEL = 0x8;
const MAX_WINDOW = 2 ** 31 - 1;

interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

const frame = (type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)) => rawFrame(type, flags, stream, payload);

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** A request's header block, HPACK literals without indexing (no dynamic table to keep in step). */
function block(method: 'GET' | 'POST', path: string): Buffer {
  const literal = (index: number, value: string) => Buffer.from([index, value.length, ...Buffer.from(value, 'latin1')]);
  return Buffer.concat([Buffer.from([method === 'GET' ? 0x82 : 0x83, 0x86]), literal(4, path), literal(1, 'localhost')]);
}

const headers = (id: number, path: string, o: { end?: boolean; method?: 'GET' | 'POST' } = {}) =>
  frame(HEADERS, END_HEADERS | (o.end === false ? 0 : END_STREAM), id, block(o.method ?? 'GET', path));
const data = (id: number, bytes: string, end = false) => frame(DATA, end ? END_STREAM : 0, id, Buffer.from(bytes));
const rst = (id: number, code: number) => frame(RST_STREAM, 0, id, u32(code));
const windowUpdate = (id: number, increment: number) => frame(WINDOW_UPDATE, 0, id, u32(increment));
const initialWindow = (size: number) => {
  const b = Buffer.alloc(6);
  b.writeUInt16BE(0x4);
  b.writeUInt32BE(size, 2);
  return frame(SETTINGS, 0, 0, b);
};

/** A raw HTTP/2 client: sends frames, and waits for the ones it expects. */
class FrameClient {
  readonly frames: Frame[] = [];
  closed = false;
  #buffer = Buffer.alloc(0);
  #waiters = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.#buffer = Buffer.concat([this.#buffer, chunk]);
      while (this.#buffer.length >= 9) {
        const length = this.#buffer.readUIntBE(0, 3);
        if (this.#buffer.length < 9 + length) break;
        const f = {
          type: this.#buffer[3]!,
          flags: this.#buffer[4]!,
          stream: this.#buffer.readUInt32BE(5) & 0x7fffffff,
          payload: this.#buffer.subarray(9, 9 + length),
        };
        this.#buffer = this.#buffer.subarray(9 + length);
        this.frames.push(f);
        if (f.type === SETTINGS && !(f.flags & ACK)) socket.write(frame(SETTINGS, ACK, 0));
      }
      for (const wake of this.#waiters) wake();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
      for (const wake of this.#waiters) wake();
    });
  }

  static async open(port: number, secure = false): Promise<FrameClient> {
    const socket = secure
      ? tls.connect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], ca: pki.ca.cert, servername: 'a.test' })
      : net.connect(port, '127.0.0.1');
    await new Promise((resolve, reject) => socket.once(secure ? 'secureConnect' : 'connect', resolve).once('error', reject));
    const client = new FrameClient(socket);
    socket.write(Buffer.concat([preface, frame(SETTINGS, 0, 0)]));
    await client.next((f) => f.type === SETTINGS && !(f.flags & ACK), 'the server preface');
    return client;
  }

  send(...frames: Buffer[]): void {
    this.socket.write(Buffer.concat(frames));
  }

  /** The first frame (already come or still to come) that `match` accepts; fails if the connection closes or 3 s pass first. */
  next(match: (f: Frame) => boolean, what: string): Promise<Frame> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new Error(`no ${what} in 3 s; got ${this.describe()}`)), 3000);
      const check = () => {
        const found = this.frames.find(match);
        if (found) done(undefined, found);
        else if (this.closed) done(new Error(`closed before ${what}; got ${this.describe()}`));
      };
      const done = (error?: Error, f?: Frame) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        if (error) reject(error);
        else resolve(f!);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The answer on `id` ended: its END_STREAM. */
  answered(id: number): Promise<Frame> {
    return this.next(
      (f) => f.stream === id && (f.type === DATA || f.type === HEADERS) && (f.flags & END_STREAM) !== 0,
      `the end of the answer on stream ${id}`,
    );
  }

  goaway(): Promise<number> {
    return this.next((f) => f.type === GOAWAY, 'GOAWAY').then((f) => f.payload.readUInt32BE(4));
  }

  reset(id: number): Promise<number> {
    return this.next((f) => f.type === RST_STREAM && f.stream === id, `RST_STREAM on stream ${id}`).then((f) => f.payload.readUInt32BE(0));
  }

  /** A PING answered: every frame before its ACK has been read and acted on. */
  async ping(n: number): Promise<void> {
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(n);
    this.send(frame(PING, 0, 0, payload));
    await this.next((f) => f.type === PING && (f.flags & ACK) !== 0 && f.payload.equals(payload), `the ACK of PING ${n}`);
  }

  describe(): string {
    return JSON.stringify(
      this.frames.map(
        (f) => `${f.type}/${f.stream}${f.type === GOAWAY ? `:${f.payload.readUInt32BE(4)}` : f.type === RST_STREAM ? `:${f.payload.readUInt32BE(0)}` : ''}`,
      ),
    );
  }

  close(): void {
    this.socket.destroy();
  }
}

describe('HTTP/2 frame rules (RFC 9113) in front of the session', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  /** Answers to /hold, kept back until the test lets them go (or the gateway gives up). */
  const held = new Set<http.ServerResponse>();
  const holding: (() => void)[] = [];
  /** Resolves once the origin has a /hold request waiting. */
  const heldOne = () => new Promise<void>((resolve) => (held.size ? resolve() : holding.push(resolve)));

  before(async () => {
    origin = await startOrigin('o', (req, res) => {
      req.resume();
      if (req.url === '/hold') {
        held.add(res);
        res.on('close', () => held.delete(res));
        holding.splice(0).forEach((wake) => wake());
        return;
      }
      if (req.url === '/early') {
        // Answers before the upload ends.
        res.end('early');
        return;
      }
      if (req.url === '/big') {
        res.end(Buffer.alloc(256 * 1024, 'b'));
        return;
      }
      req.on('end', () => res.end('ok'));
    });
    gw = await startGateway(
      {
        frontends: {
          plain: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true },
          secure: { bind: '127.0.0.1:0', default_backend: 'o', tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } },
          loose: { bind: '127.0.0.1:0', default_backend: 'o', h2c: true, h2_strict_frames: false },
        },
        backends: { o: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key },
    );
  });
  after(async () => {
    for (const res of held) res.end();
    await gw.close();
    await origin.close();
  });

  /** The connection still serves: a GET on stream `id` is answered 200. */
  async function stillServes(client: FrameClient, id: number): Promise<void> {
    client.send(headers(id, '/'));
    const head = await client.next((f) => f.type === HEADERS && f.stream === id, `an answer on stream ${id}`);
    assert.equal(head.payload[0], 0x88, ':status 200');
    assert.ok(!client.frames.some((f) => f.type === GOAWAY), `no GOAWAY: ${client.describe()}`);
  }

  describe('5.1: frames on closed streams', () => {
    it('DATA on a stream the client reset: RST_STREAM STREAM_CLOSED, and the connection goes on', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/hold', { end: false, method: 'POST' }));
      await heldOne();
      client.send(rst(1, CANCEL), data(1, 'late'));
      assert.equal(await client.reset(1), STREAM_CLOSED);
      await stillServes(client, 3);
      client.close();
    });

    it('HEADERS on a stream the client reset: RST_STREAM STREAM_CLOSED', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/hold', { end: false, method: 'POST' }));
      await heldOne();
      client.send(rst(1, CANCEL), headers(1, '/'));
      assert.equal(await client.reset(1), STREAM_CLOSED);
      await stillServes(client, 3);
      client.close();
    });

    for (const [what, late] of [
      ['DATA', data(1, 'late')],
      ['HEADERS', headers(1, '/')],
    ] as const) {
      it(`${what} on a stream closed both ways (END_STREAM each way): GOAWAY STREAM_CLOSED`, async () => {
        const client = await FrameClient.open(gw.port('plain'));
        client.send(headers(1, '/'));
        await client.answered(1);
        client.send(late);
        assert.equal(await client.goaway(), STREAM_CLOSED);
        client.close();
      });

      it(`${what} after the client's END_STREAM, the answer still to come (half-closed): STREAM_CLOSED`, async () => {
        const client = await FrameClient.open(gw.port('plain'));
        client.send(headers(1, '/hold'));
        await heldOne();
        client.send(late);
        assert.equal(await client.goaway(), STREAM_CLOSED);
        client.close();
      });
    }

    it('DATA after the gateway answered whole, the upload still going (half-closed local), is no error', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/early', { end: false, method: 'POST' }), data(1, 'first'));
      await client.answered(1);
      client.send(data(1, 'more'), data(1, 'last', true));
      await client.ping(1);
      await stillServes(client, 3);
      assert.ok(!client.frames.some((f) => f.type === RST_STREAM && f.payload.readUInt32BE(0) === STREAM_CLOSED), client.describe());
      client.close();
    });
  });

  describe('5.1.1: stream identifiers', () => {
    it('HEADERS on a stream id lower than one already used (never opened): GOAWAY PROTOCOL_ERROR', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(5, '/'));
      await client.answered(5);
      client.send(headers(3, '/'));
      assert.equal(await client.goaway(), PROTOCOL_ERROR);
      client.close();
    });

    it('ids that skip but always grow are served', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/'), headers(7, '/'), headers(21, '/'));
      await Promise.all([client.answered(1), client.answered(7), client.answered(21)]);
      await stillServes(client, 23);
      client.close();
    });
  });

  describe('6.7: PING', () => {
    for (const secure of [false, true]) {
      it(`a PING ACK the gateway never asked for is ignored (${secure ? 'TLS' : 'h2c'})`, async () => {
        const client = await FrameClient.open(gw.port(secure ? 'secure' : 'plain'), secure);
        client.send(frame(PING, ACK, 0, Buffer.alloc(8)));
        await client.ping(7);
        await stillServes(client, 1);
        client.close();
      });
    }
  });

  describe('6.9: flow control windows', () => {
    it('WINDOW_UPDATE taking the connection window above 2^31-1: GOAWAY FLOW_CONTROL_ERROR', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(windowUpdate(0, MAX_WINDOW - 65535), windowUpdate(0, 1));
      assert.equal(await client.goaway(), FLOW_CONTROL_ERROR);
      client.close();
    });

    it('WINDOW_UPDATE taking a stream window above 2^31-1: RST_STREAM FLOW_CONTROL_ERROR on that stream only', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/hold'));
      await heldOne();
      client.send(windowUpdate(1, MAX_WINDOW - 65535), windowUpdate(1, 1));
      assert.equal(await client.reset(1), FLOW_CONTROL_ERROR);
      await stillServes(client, 3);
      client.close();
    });

    it('SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1: GOAWAY FLOW_CONTROL_ERROR', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(initialWindow(MAX_WINDOW + 1));
      assert.equal(await client.goaway(), FLOW_CONTROL_ERROR);
      client.close();
    });

    it('SETTINGS_INITIAL_WINDOW_SIZE growing an open stream window above 2^31-1: GOAWAY FLOW_CONTROL_ERROR', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(headers(1, '/hold'));
      await heldOne();
      client.send(windowUpdate(1, MAX_WINDOW - 65535), initialWindow(65536));
      assert.equal(await client.goaway(), FLOW_CONTROL_ERROR);
      client.close();
    });

    it('windows raised to exactly 2^31-1, and spent and raised again, are no error', async () => {
      const client = await FrameClient.open(gw.port('plain'));
      client.send(windowUpdate(0, MAX_WINDOW - 65535), initialWindow(MAX_WINDOW));
      client.send(headers(1, '/big'));
      await client.answered(1);
      const received = client.frames.filter((f) => f.type === DATA && f.stream === 1).reduce((n, f) => n + f.payload.length, 0);
      assert.equal(received, 256 * 1024);
      // Everything received is given back: the window is 2^31-1 again, exactly.
      client.send(windowUpdate(0, received));
      await client.ping(2);
      await stillServes(client, 3);
      client.close();
    });
  });

  it("with h2_strict_frames: false, node's session alone reads the frames: an unsolicited PING ACK ends the connection", async () => {
    const client = await FrameClient.open(gw.port('loose'));
    client.send(frame(PING, ACK, 0, Buffer.alloc(8)));
    assert.notEqual(await client.goaway(), 0);
    client.close();
  });
});
