// First bytes for the detector tests: ClientHellos captured from Node's own TLS client,
// hand-built ones (huge, fragmented), a seeded random source, and bytes that throw on any
// read out of bounds.
import net from 'node:net';
import tls from 'node:tls';
import { once } from 'node:events';

/**
 * The first record a real `tls.connect()` sends: a plain TCP server on 127.0.0.1:0 reads
 * it and hangs up, so no handshake ever completes.
 */
export async function captureClientHello(
  options: Pick<tls.ConnectionOptions, 'servername' | 'ALPNProtocols' | 'maxVersion' | 'minVersion'>,
): Promise<Uint8Array> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as net.AddressInfo;
  const captured = new Promise<Uint8Array>((resolve, reject) => {
    server.once('connection', (socket) => {
      let head = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        head = Buffer.concat([head, chunk]);
        if (head.length >= 5 && head.length >= 5 + head.readUInt16BE(3)) {
          socket.destroy();
          resolve(new Uint8Array(head.subarray(0, 5 + head.readUInt16BE(3))));
        }
      });
      socket.on('error', reject);
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port, ...options });
  client.on('error', () => {});
  try {
    return await captured;
  } finally {
    client.destroy();
    server.close();
  }
}

export interface HelloSpec {
  sni?: string;
  alpn?: string[];
  /** supported_versions, as numbers (0x0304, GREASE 0x0a0a, ...). */
  versions?: number[];
  clientVersion?: number;
  /** Bytes of session id (32 unless given; more than 32 is malformed). */
  sessionId?: number;
  /** Bytes of a padding extension (RFC 7685), to make the hello as large as wanted. */
  padding?: number;
  /** Extensions as written, after the ones above: [type, data]. */
  extra?: [number, Uint8Array][];
}

const u16 = (n: number) => [(n >> 8) & 255, n & 255];
const u24 = (n: number) => [(n >> 16) & 255, (n >> 8) & 255, n & 255];
const ascii = (s: string) => [...Buffer.from(s, 'latin1')];

/** A ClientHello handshake message (type, length, body) built from `spec`. */
export function buildClientHello(spec: HelloSpec): Uint8Array {
  const extensions: number[] = [];
  const ext = (type: number, data: number[] | Uint8Array) => extensions.push(...u16(type), ...u16(data.length), ...data);
  if (spec.sni !== undefined) {
    const name = ascii(spec.sni);
    ext(0, [...u16(name.length + 3), 0, ...u16(name.length), ...name]);
  }
  if (spec.alpn) {
    const list = spec.alpn.flatMap((p) => [p.length, ...ascii(p)]);
    ext(16, [...u16(list.length), ...list]);
  }
  if (spec.versions) ext(43, [spec.versions.length * 2, ...spec.versions.flatMap(u16)]);
  for (const [type, data] of spec.extra ?? []) ext(type, data);
  if (spec.padding !== undefined) ext(21, new Uint8Array(spec.padding));
  const body = [
    ...u16(spec.clientVersion ?? 0x0303),
    ...new Array(32).fill(7),
    spec.sessionId ?? 32,
    ...new Array(spec.sessionId ?? 32).fill(9),
    ...u16(4),
    0x13,
    0x01,
    0xc0,
    0x2f,
    1,
    0,
    ...u16(extensions.length),
    ...extensions,
  ];
  return Uint8Array.from([1, ...u24(body.length), ...body]);
}

/** `handshake` in TLS records of at most `size` bytes each (or the given sizes in turn, the last repeating). */
export function inRecords(handshake: Uint8Array, size: number | number[]): Uint8Array {
  const sizes = Array.isArray(size) ? size : [size];
  const out: number[] = [];
  for (let at = 0, k = 0; at < handshake.length; k++) {
    const take = Math.min(sizes[Math.min(k, sizes.length - 1)]!, handshake.length - at);
    out.push(22, 3, 1, ...u16(take), ...handshake.subarray(at, at + take));
    at += take;
  }
  return Uint8Array.from(out);
}

/** The handshake message carried by a single-record hello (as captured). */
export function handshakeOf(record: Uint8Array): Uint8Array {
  return record.slice(5);
}

/** A small LCG in [0, 1), so every run draws the same cases. */
export function seeded(seed = 42): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

/** `bytes` behind a proxy that throws on any read outside them (index or subarray), and on any other method call. */
export function guarded(bytes: Uint8Array): Uint8Array {
  return new Proxy(bytes, {
    get(target, key) {
      if (key === 'length') return target.length;
      if (key === 'subarray') {
        return (from: number, to: number) => {
          if (!(from >= 0 && from <= to && to <= target.length)) throw new RangeError(`subarray(${from}, ${to}) of ${target.length} bytes`);
          return guarded(target.subarray(from, to));
        };
      }
      const i = typeof key === 'string' ? Number(key) : NaN;
      if (Number.isInteger(i)) {
        if (i < 0 || i >= target.length) throw new RangeError(`read at ${i} of ${target.length} bytes`);
        return target[i];
      }
      throw new TypeError(`detectors index bytes and take subarrays only; got .${String(key)}`);
    },
  });
}

export const bytes = (s: string) => Uint8Array.from(Buffer.from(s, 'latin1'));
