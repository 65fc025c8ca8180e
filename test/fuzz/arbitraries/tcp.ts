// A tcp frontend's first bytes, as its detectors see them: TLS ClientHellos (whole,
// fragmented over records, with lengths that lie), SSH banners, HTTP request lines and
// heads cut anywhere, the h2c preface, PROXY protocol headers, and random bytes.
import fc from 'fast-check';
import { preface } from './http2.ts';

const u16 = (n: number) => [(n >> 8) & 0xff, n & 0xff];
const u24 = (n: number) => [(n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];

export interface HelloSpec {
  sni: string | null;
  alpn: string[] | null;
  versions: number[] | null;
  sessionId: number;
  /** Added to the handshake's and the extensions' length fields: 0 tells the truth. */
  lie: { handshake: number; extensions: number; sni: number };
  /** Record boundaries inside the hello, as fractions: several records, one hello. */
  records: number[];
  /** Bytes of the whole cut off the end. */
  cut: number;
}

function extension(type: number, body: number[]): number[] {
  return [...u16(type), ...u16(body.length), ...body];
}

/** A ClientHello in TLS records, as RFC 8446 4.1.2 and 5.1 frame it (or not, as `spec` lies). */
export function clientHello(spec: HelloSpec): Buffer {
  const ext: number[] = [];
  if (spec.sni !== null) {
    const name = [...Buffer.from(spec.sni, 'latin1')];
    const entry = [0, ...u16(name.length), ...name];
    ext.push(...extension(0, [...u16(entry.length + spec.lie.sni), ...entry]));
  }
  if (spec.alpn !== null) {
    const list = spec.alpn.flatMap((p) => [p.length & 0xff, ...Buffer.from(p, 'latin1')]);
    ext.push(...extension(16, [...u16(list.length), ...list]));
  }
  if (spec.versions !== null) ext.push(...extension(43, [spec.versions.length * 2, ...spec.versions.flatMap(u16)]));
  const body = [
    3,
    3,
    ...new Array(32).fill(7),
    spec.sessionId,
    ...new Array(spec.sessionId).fill(1),
    ...u16(4),
    0x13,
    0x01,
    0x13,
    0x02,
    1,
    0,
    ...u16(ext.length + spec.lie.extensions),
    ...ext,
  ];
  const handshake = Buffer.from([1, ...u24(body.length + spec.lie.handshake), ...body]);
  const cuts = [...new Set(spec.records.map((f) => Math.floor(f * handshake.length)))].filter((p) => p > 0 && p < handshake.length).sort((a, b) => a - b);
  const records: Buffer[] = [];
  let from = 0;
  for (const to of [...cuts, handshake.length]) {
    const fragment = handshake.subarray(from, to);
    records.push(Buffer.from([22, 3, 1, ...u16(fragment.length)]), fragment);
    from = to;
  }
  const all = Buffer.concat(records);
  return all.subarray(0, Math.max(0, all.length - spec.cut));
}

const lie = fc.oneof({ weight: 6, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -40, max: 70_000 }) });

export const hello: fc.Arbitrary<HelloSpec> = fc.record({
  sni: fc.oneof(
    fc.constantFrom('pass.example', 'PASS.Example', 'other.example', '', 'a'.repeat(300), 'bad\x00name', 'xn--nxasmq6b.example', '127.0.0.1'),
    fc.constant(null),
  ),
  alpn: fc.option(fc.array(fc.constantFrom('h2', 'http/1.1', '', 'x'.repeat(255)), { maxLength: 3 }), { nil: null }),
  versions: fc.option(fc.array(fc.constantFrom(0x0304, 0x0303, 0x0302, 0x7f1c, 0xfafa), { maxLength: 4 }), { nil: null }),
  sessionId: fc.constantFrom(0, 32, 33, 255),
  lie: fc.record({ handshake: lie, extensions: lie, sni: lie }),
  records: fc.oneof(
    { weight: 3, arbitrary: fc.constant<number[]>([]) },
    { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 5 }) },
  ),
  cut: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 200 }) }),
});

/** What a connection opens with: one of a few protocols, right or wrong, or noise. */
export type Opening =
  | { kind: 'tls'; hello: HelloSpec; after: string }
  | { kind: 'ssh'; banner: string }
  | { kind: 'http'; text: string; cut: number }
  | { kind: 'h2c'; cut: number; after: number[] }
  | { kind: 'proxy'; header: string }
  | { kind: 'random'; bytes: number[] };

export const opening: fc.Arbitrary<Opening> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('tls' as const), hello, after: fc.constantFrom('', 'application data', '\x17\x03\x03\x00\x05hello') }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('ssh' as const),
      banner: fc.oneof(
        fc.constantFrom(
          'SSH-2.0-OpenSSH_9.6p1\r\n',
          'SSH-1.99-x\r\n',
          'SSH-2.0-\r\n',
          'SSH-',
          'SSH-2.0-' + 'a'.repeat(300) + '\r\n',
          'SSH-2.0-a\x00b\r\n',
          'SSH-3.0-x\r\n',
        ),
        fc.stringMatching(/^SSH-2\.0-[\x20-\x7e]{0,40}(\r\n)?$/),
      ),
    }),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('http' as const),
      text: fc.constantFrom(
        'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n',
        'GET http://example.com/x HTTP/1.1\r\nHost: example.com\r\n\r\n',
        'POST /upload HTTP/1.1\r\nHost: example.com\r\nContent-Length: 5\r\n\r\nhello',
        'GET / HTTP/1.0\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: example.com\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n',
        'GET / HTTP/2.0\r\nHost: example.com\r\n\r\n',
        'GET /\r\n',
        'OPTIONS * HTTP/1.1\r\nHost: example.com\r\n\r\n',
        'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n',
        'GET / HTTP/1.1\r\nHost: example.com\r\n' + 'X-Long: ' + 'l'.repeat(9000) + '\r\n\r\n',
        'G',
        'GET / HTTP/1.1\nHost: example.com\n\n',
      ),
      cut: fc.oneof({ weight: 3, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 1, max: 60 }) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('h2c' as const),
      cut: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 23 })),
      after: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 30 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('proxy' as const),
      header: fc.constantFrom(
        'PROXY TCP4 1.2.3.4 5.6.7.8 1000 80\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n',
        'PROXY UNKNOWN\r\n',
        'PROXY ' + 'x'.repeat(200),
        '\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c\x01\x02\x03\x04\x05\x06\x07\x08\x00\x50\x00\x50',
        '\r\n\r\n\x00\r\nQUIT\n',
      ),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant('random' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 1, maxLength: 80 }) }),
  },
);

export function openingBytes(o: Opening): Buffer {
  switch (o.kind) {
    case 'tls':
      return Buffer.concat([clientHello(o.hello), Buffer.from(o.after, 'latin1')]);
    case 'ssh':
      return Buffer.from(o.banner, 'latin1');
    case 'http':
      return Buffer.from(o.text.slice(0, o.cut ? Math.max(1, o.text.length - o.cut) : undefined), 'latin1');
    case 'h2c':
      return Buffer.concat([preface.subarray(0, preface.length - o.cut), Buffer.from(o.after)]);
    case 'proxy':
      return Buffer.from(o.header, 'latin1');
    case 'random':
      return Buffer.from(o.bytes);
  }
}

export const tcpCase = fc.record({
  opening,
  cuts: fc.oneof(
    { weight: 3, arbitrary: fc.constant<number[]>([]) },
    { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }) },
  ),
  finish: fc.constantFrom('end' as const, 'hold' as const),
});
export type TcpCaseSpec = typeof tcpCase extends fc.Arbitrary<infer T> ? T : never;
