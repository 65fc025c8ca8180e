// A cleartext port that also speaks HTTP/2 (h2c): a client whose preface breaks after
// HTTP/2's first line gets HTTP/2's answer (the server's SETTINGS, then GOAWAY
// PROTOCOL_ERROR), one that looked like HTTP/1 gets HTTP/1's 400 (RFC 9113 3.4).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { rawExchange, startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';

/** Every bytes the gateway sent until it closed. */
function exchange(port: number, bytes: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes, 'latin1'));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.setTimeout(3000, () => socket.destroy());
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

/** The frames in `bytes`: type, stream and payload. */
function frames(bytes: Buffer): { type: number; stream: number; payload: Buffer }[] {
  const out = [];
  for (let i = 0; i + 9 <= bytes.length;) {
    const length = bytes.readUIntBE(i, 3);
    out.push({ type: bytes[i + 3]!, stream: bytes.readUInt32BE(i + 5) & 0x7fffffff, payload: bytes.subarray(i + 9, i + 9 + length) });
    i += 9 + length;
  }
  return out;
}

describe('h2c: a broken preface', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  before(async () => {
    origin = await startOrigin('o');
    gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', h2c: true } },
      backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
    });
  });
  after(async () => {
    await gw?.close();
    await origin?.close();
  });

  for (const [what, bytes] of [
    ['its magic wrong', 'PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'],
    ['cut short by a blank line missing', 'PRI * HTTP/2.0\r\nSM\r\n\r\n\r\n\r\n'],
  ]) {
    it(`started like HTTP/2, ${what}: SETTINGS, then GOAWAY PROTOCOL_ERROR, and the connection closes`, async () => {
      const out = await exchange(gw.port(), bytes!);
      assert.doesNotMatch(out.toString('latin1'), /HTTP\/1\.1/);
      const sent = frames(out);
      assert.equal(sent[0]?.type, 0x04, 'the server preface: SETTINGS');
      const goaway = sent.find((f) => f.type === 0x07);
      assert.ok(goaway, `a GOAWAY among ${JSON.stringify(sent.map((f) => f.type))}`);
      assert.equal(goaway.stream, 0);
      assert.equal(goaway.payload.readUInt32BE(4), 0x1, 'PROTOCOL_ERROR');
    });
  }

  it('looked like HTTP/1 (PRI with another target): 400, as HTTP/1 answers it', async () => {
    const out = await rawExchange(gw.port(), 'PRI /x HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 400 /);
  });

  it('the same port still serves HTTP/1.1 and a sound HTTP/2 preface', async () => {
    const out = await rawExchange(gw.port(), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(out, /^HTTP\/1\.1 200 /);
    const h2 = await exchange(gw.port(), 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00');
    const sent = frames(h2);
    assert.equal(sent[0]?.type, 0x04);
    assert.ok(!sent.some((f) => f.type === 0x07 && f.payload.readUInt32BE(4) === 1), 'no PROTOCOL_ERROR for a sound preface');
  });
});
