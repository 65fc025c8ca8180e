// WebSocket upgrades (RFC 6455 4.1), valid and not, then what the client sends through
// the tunnel: masked frames, unmasked ones (a server must fail those), lying lengths, noise.
import fc from 'fast-check';

export interface UpgradeSpec {
  method: string;
  connection: string | null;
  upgrade: string | null;
  key: string | null;
  version: string | null;
  /** A Content-Length and that body: an upgrade with a body is refused (400); `''` sends Content-Length: 0. */
  body: string | null;
  /** Bytes after the head, sent with it: frames, or noise. */
  after: number[];
}

const validKey = 'dGhlIHNhbXBsZSBub25jZQ==';

/** A masked client frame (RFC 6455 5.2) with the given opcode and payload; `lie` adds to the 7-bit length. */
export function wsFrame(opcode: number, payload: Buffer, masked = true, lie = 0): number[] {
  const mask = [1, 2, 3, 4];
  const length = Math.min(125, payload.length + lie);
  const head = [0x80 | opcode, (masked ? 0x80 : 0) | length];
  const body = masked ? [...mask, ...payload.map((b, i) => b ^ mask[i % 4]!)] : [...payload];
  return [...head, ...body];
}

const after = fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 20 }).map((s) => wsFrame(1, Buffer.from(s, 'utf8'))) },
  { weight: 1, arbitrary: fc.constant(wsFrame(8, Buffer.from([0x03, 0xe8]))) },
  { weight: 1, arbitrary: fc.constant(wsFrame(9, Buffer.from('ping'))) },
  { weight: 1, arbitrary: fc.string({ maxLength: 20 }).map((s) => wsFrame(1, Buffer.from(s, 'utf8'), false)) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }).map((lie) => wsFrame(2, Buffer.from('abc'), true, lie)) },
  { weight: 1, arbitrary: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) },
  { weight: 1, arbitrary: fc.constant([...Buffer.from('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n')]) },
  { weight: 1, arbitrary: fc.constant<number[]>([]) },
);

export const upgrade: fc.Arbitrary<UpgradeSpec> = fc.record({
  method: fc.oneof({ weight: 8, arbitrary: fc.constant('GET') }, { weight: 1, arbitrary: fc.constantFrom('POST', 'CONNECT', 'HEAD') }),
  connection: fc.oneof(
    { weight: 6, arbitrary: fc.constant('Upgrade') },
    { weight: 1, arbitrary: fc.constantFrom('keep-alive, Upgrade', 'upgrade', 'close', null) },
  ),
  upgrade: fc.oneof(
    { weight: 6, arbitrary: fc.constant('websocket') },
    { weight: 1, arbitrary: fc.constantFrom('WebSocket', 'h2c', 'websocket, foo/1', '', null) },
  ),
  key: fc.oneof({ weight: 6, arbitrary: fc.constant(validKey) }, { weight: 1, arbitrary: fc.constantFrom('short', '', null, 'a'.repeat(2000)) }),
  version: fc.oneof({ weight: 6, arbitrary: fc.constant('13') }, { weight: 1, arbitrary: fc.constantFrom('8', 'abc', null) }),
  body: fc.oneof({ weight: 8, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('', 'hello') }),
  after: fc.array(after, { maxLength: 3 }).map((frames) => frames.flat()),
});

/** Everything a server needs to accept: RFC 6455 4.2.1's checks, as the origin (ws) makes them (ws also takes version 8). */
export function acceptable(s: UpgradeSpec): boolean {
  return (
    s.method === 'GET' &&
    /(^|,)\s*upgrade\s*(,|$)/i.test(s.connection ?? '') &&
    s.upgrade?.toLowerCase() === 'websocket' &&
    s.key === validKey &&
    (s.version === '13' || s.version === '8') &&
    !s.body
  );
}

export function upgradeBytes(s: UpgradeSpec): Buffer {
  const lines = [`${s.method} /chat HTTP/1.1`, 'Host: example.com'];
  if (s.connection !== null) lines.push(`Connection: ${s.connection}`);
  if (s.upgrade !== null) lines.push(`Upgrade: ${s.upgrade}`);
  if (s.key !== null) lines.push(`Sec-WebSocket-Key: ${s.key}`);
  if (s.version !== null) lines.push(`Sec-WebSocket-Version: ${s.version}`);
  if (s.body !== null) lines.push(`Content-Length: ${s.body.length}`);
  return Buffer.concat([Buffer.from(lines.join('\r\n') + '\r\n\r\n' + (s.body ?? ''), 'latin1'), Buffer.from(s.after)]);
}
