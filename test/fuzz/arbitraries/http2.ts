// HTTP/2 connections as a client could open them: the preface (now and then broken),
// then a sequence of moves, each some frames: requests with header blocks valid or not,
// frames of every type with random flags, lengths and stream ids, and the floods of
// known attacks (CONTINUATION, RST_STREAM, SETTINGS, PING, WINDOW_UPDATE).
import fc from 'fast-check';

export const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const FrameType = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY_FLAG = 0x20;

/** A frame: its 9-byte header (with `length` as given, which may lie) and payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer, length = payload.length): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(length & 0xffffff, 0, 3);
  head[3] = type & 0xff;
  head[4] = flags & 0xff;
  head.writeUInt32BE(stream >>> 0, 5);
  return Buffer.concat([head, payload]);
}

/** HPACK integer with an `n`-bit prefix (RFC 7541 5.1), the first byte's high bits `mask`. */
function hpackInt(value: number, n: number, mask: number): Buffer {
  const max = (1 << n) - 1;
  if (value < max) return Buffer.from([mask | value]);
  const bytes = [mask | max];
  value -= max;
  while (value >= 128) {
    bytes.push((value % 128) + 128);
    value = Math.floor(value / 128);
  }
  bytes.push(value);
  return Buffer.from(bytes);
}

const hpackString = (s: string) => Buffer.concat([hpackInt(Buffer.byteLength(s, 'latin1'), 7, 0), Buffer.from(s, 'latin1')]);

/** A field as a literal without indexing, new name (RFC 7541 6.2.2): never touches the dynamic table. */
export const literal = (name: string, value: string) => Buffer.concat([Buffer.from([0]), hpackString(name), hpackString(value)]);

export type Field = [string, string];

/** A header block's raw parts: fields as literals, or raw bytes (a bad index, a table size update). */
export type BlockPart = { field: Field } | { raw: number[] };

const validFields: Field[] = [
  [':method', 'GET'],
  [':scheme', 'http'],
  [':path', '/'],
  [':authority', 'example.com'],
];

/** Ways a request's header block goes wrong; `none` leaves it valid. */
const blockMutation = fc.constantFrom(
  'none',
  'none',
  'none',
  'none',
  'no-method',
  'no-path',
  'no-scheme',
  'duplicate-path',
  'empty-path',
  'uppercase-name',
  'connection-header',
  'te-gzip',
  'pseudo-after-regular',
  'unknown-pseudo',
  'value-crlf',
  'value-nul',
  'name-space',
  'content-length-mismatch',
  'bad-index',
  'table-size-update',
  'huge-value',
  'connect',
  'host-and-authority',
  'empty-authority',
);

function requestBlock(mutation: string, extra: Field[]): { parts: BlockPart[]; body?: string } {
  let fields: Field[] = validFields.map((f) => [...f] as Field);
  let raw: number[] | undefined;
  let body: string | undefined;
  const set = (name: string, value: string | undefined) => {
    fields = fields.filter(([n]) => n !== name);
    if (value !== undefined) fields.splice(3, 0, [name, value]);
  };
  switch (mutation) {
    case 'no-method':
      set(':method', undefined);
      break;
    case 'no-path':
      set(':path', undefined);
      break;
    case 'no-scheme':
      set(':scheme', undefined);
      break;
    case 'duplicate-path':
      fields.push([':path', '/again']);
      break;
    case 'empty-path':
      set(':path', '');
      break;
    case 'uppercase-name':
      fields.push(['X-Upper', 'a']);
      break;
    case 'connection-header':
      fields.push(['connection', 'keep-alive']);
      break;
    case 'te-gzip':
      fields.push(['te', 'gzip']);
      break;
    case 'pseudo-after-regular':
      fields = [...fields.slice(0, 2), ['accept', '*/*'], ...fields.slice(2)];
      break;
    case 'unknown-pseudo':
      fields.push([':fuzz', '1']);
      break;
    case 'value-crlf':
      fields.push(['x-a', 'b\r\nx-injected: 1']);
      break;
    case 'value-nul':
      fields.push(['x-a', 'b\x00c']);
      break;
    case 'name-space':
      fields.push(['x a', 'b']);
      break;
    case 'content-length-mismatch':
      set(':method', 'POST');
      fields.push(['content-length', '10']);
      body = 'abc';
      break;
    case 'bad-index':
      raw = [0xff, 0xff, 0x7f];
      break; // indexed field 127 + 16383: not in any table
    case 'table-size-update':
      raw = [0x3f, 0xe1, 0xff, 0x03];
      break; // a table size far past SETTINGS_HEADER_TABLE_SIZE
    case 'huge-value':
      fields.push(['x-huge', 'h'.repeat(20_000)]);
      break;
    case 'connect':
      fields = [
        [':method', 'CONNECT'],
        [':authority', 'example.com:443'],
      ];
      break;
    case 'host-and-authority':
      fields.push(['host', 'other.example']);
      break;
    case 'empty-authority':
      set(':authority', '');
      break;
  }
  const parts: BlockPart[] = [...fields, ...extra].map((field) => ({ field }));
  if (raw) parts.splice(mutation === 'table-size-update' ? 0 : parts.length, 0, { raw });
  return { parts, body };
}

export const encodeBlock = (parts: BlockPart[]) => Buffer.concat(parts.map((p) => ('raw' in p ? Buffer.from(p.raw) : literal(p.field[0], p.field[1]))));

/** One step of a connection, described (so a failure prints as a list of moves) and turned into frames by `framesOf`. */
export type Move =
  | { move: 'request'; mutation: string; extra: Field[]; endStream: boolean; split: boolean; padded: boolean; priority: boolean; body: string | null }
  | { move: 'frame'; type: number; flags: number; stream: 'next' | 'last' | 'zero' | 'even' | number; payload: number[]; lengthDelta: number }
  | { move: 'continuation-flood'; frames: number; size: number; end: boolean }
  | { move: 'rst-flood'; streams: number }
  | { move: 'settings-flood'; frames: number; ack: boolean }
  | { move: 'ping-flood'; frames: number }
  | { move: 'window-update'; stream: 'last' | 'zero'; increment: number; times: number }
  | { move: 'settings'; values: [number, number][] }
  | { move: 'raw'; bytes: number[] };

const field: fc.Arbitrary<Field> = fc.tuple(
  fc.constantFrom('accept', 'user-agent', 'cookie', 'x-user', 'authorization', 'content-type', 'cache-control', 'x-api-key'),
  fc.stringMatching(/^[\x20-\x7e]{0,16}$/),
);

const settingValue = fc.oneof(fc.constantFrom(0, 1, 2, 16383, 16384, 65535, 65536, 2 ** 24, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1), fc.nat());

export const move: fc.Arbitrary<Move> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      move: fc.constant('request' as const),
      mutation: blockMutation,
      extra: fc.array(field, { maxLength: 3 }),
      endStream: fc.boolean(),
      split: fc.boolean(),
      padded: fc.boolean(),
      priority: fc.boolean(),
      body: fc.option(fc.string({ maxLength: 30 }), { nil: null }),
    }),
  },
  {
    weight: 5,
    arbitrary: fc.record({
      move: fc.constant('frame' as const),
      type: fc.oneof({ weight: 10, arbitrary: fc.integer({ min: 0, max: 9 }) }, { weight: 1, arbitrary: fc.integer({ min: 10, max: 255 }) }),
      flags: fc.oneof(fc.constantFrom(0, END_STREAM, END_HEADERS, PADDED, PRIORITY_FLAG, END_STREAM | END_HEADERS), fc.integer({ min: 0, max: 255 })),
      stream: fc.oneof(fc.constantFrom('next' as const, 'last' as const, 'zero' as const, 'even' as const), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
      payload: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 24 }),
      lengthDelta: fc.oneof({ weight: 8, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -8, max: 64 }) }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      move: fc.constant('continuation-flood' as const),
      frames: fc.integer({ min: 1, max: 400 }),
      size: fc.integer({ min: 0, max: 64 }),
      end: fc.boolean(),
    }),
  },
  { weight: 1, arbitrary: fc.record({ move: fc.constant('rst-flood' as const), streams: fc.integer({ min: 1, max: 300 }) }) },
  { weight: 1, arbitrary: fc.record({ move: fc.constant('settings-flood' as const), frames: fc.integer({ min: 1, max: 300 }), ack: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ move: fc.constant('ping-flood' as const), frames: fc.integer({ min: 1, max: 300 }) }) },
  {
    weight: 1,
    arbitrary: fc.record({
      move: fc.constant('window-update' as const),
      stream: fc.constantFrom('last' as const, 'zero' as const),
      increment: fc.oneof(fc.constantFrom(0, 1, 2 ** 31 - 1), fc.nat()),
      times: fc.integer({ min: 1, max: 3 }),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({
      move: fc.constant('settings' as const),
      values: fc.array(fc.tuple(fc.integer({ min: 0, max: 10 }), settingValue), { maxLength: 4 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ move: fc.constant('raw' as const), bytes: fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 40 }) }) },
);

export interface H2Connection {
  /** `valid`, a preface cut short, or one with a byte changed. */
  preface: 'valid' | 'cut' | 'changed';
  /** A SETTINGS frame right after the preface, as a client must send. */
  settings: boolean;
  moves: Move[];
}

export const connection: fc.Arbitrary<H2Connection> = fc.record({
  preface: fc.oneof({ weight: 12, arbitrary: fc.constant('valid' as const) }, { weight: 1, arbitrary: fc.constantFrom('cut' as const, 'changed' as const) }),
  settings: fc.oneof({ weight: 6, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  moves: fc.array(move, { minLength: 1, maxLength: 6 }),
});

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const settingsPayload = (values: [number, number][]) => Buffer.concat(values.map(([id, v]) => Buffer.concat([Buffer.from([id >> 8, id & 0xff]), u32(v)])));

/** The bytes of a connection: preface, settings, then each move's frames with client stream ids counting up (1, 3, 5...). */
export function bytesOf(c: H2Connection): Buffer {
  const out: Buffer[] = [];
  if (c.preface === 'valid') out.push(preface);
  else if (c.preface === 'cut') out.push(preface.subarray(0, 12));
  else out.push(Buffer.from(preface.toString('latin1').replace('SM', 'SN'), 'latin1'));
  if (c.settings)
    out.push(
      frame(
        FrameType.SETTINGS,
        0,
        0,
        settingsPayload([
          [3, 100],
          [4, 65535],
        ]),
      ),
    );
  let next = 1;
  let last = 1;
  const open = () => {
    last = next;
    next += 2;
    return last;
  };
  for (const m of c.moves) {
    switch (m.move) {
      case 'request': {
        const { parts, body: forced } = requestBlock(m.mutation, m.extra);
        const id = open();
        const block = encodeBlock(parts);
        const body = forced ?? m.body;
        const endStream = body === null && m.endStream ? END_STREAM : 0;
        let prefix = Buffer.alloc(0);
        let flags = endStream;
        if (m.priority) {
          flags |= PRIORITY_FLAG;
          prefix = Buffer.concat([u32(0), Buffer.from([15])]);
        }
        const pad = m.padded ? 4 : 0;
        if (m.padded) flags |= PADDED;
        const wrap = (b: Buffer) => Buffer.concat([m.padded ? Buffer.from([pad]) : Buffer.alloc(0), prefix, b, Buffer.alloc(pad)]);
        if (m.split && block.length > 1) {
          const half = Math.floor(block.length / 2);
          out.push(frame(FrameType.HEADERS, flags, id, wrap(block.subarray(0, half))));
          out.push(frame(FrameType.CONTINUATION, END_HEADERS, id, block.subarray(half)));
        } else out.push(frame(FrameType.HEADERS, flags | END_HEADERS, id, wrap(block)));
        if (body !== null) out.push(frame(FrameType.DATA, m.endStream || forced !== undefined ? END_STREAM : 0, id, Buffer.from(body, 'latin1')));
        break;
      }
      case 'frame': {
        const stream = m.stream === 'next' ? open() : m.stream === 'last' ? last : m.stream === 'zero' ? 0 : m.stream === 'even' ? 2 : m.stream;
        const payload = Buffer.from(m.payload);
        out.push(frame(m.type, m.flags, stream, payload, Math.max(0, payload.length + m.lengthDelta)));
        break;
      }
      case 'continuation-flood': {
        const id = open();
        out.push(frame(FrameType.HEADERS, 0, id, encodeBlock(validFields.map((field) => ({ field })))));
        for (let i = 0; i < m.frames; i++)
          out.push(frame(FrameType.CONTINUATION, m.end && i === m.frames - 1 ? END_HEADERS : 0, id, literal('x-flood', 'f'.repeat(m.size))));
        break;
      }
      case 'rst-flood': {
        const block = encodeBlock(validFields.map((field) => ({ field })));
        for (let i = 0; i < m.streams; i++) {
          const id = open();
          out.push(frame(FrameType.HEADERS, END_HEADERS | END_STREAM, id, block), frame(FrameType.RST_STREAM, 0, id, u32(8)));
        }
        break;
      }
      case 'settings-flood':
        for (let i = 0; i < m.frames; i++) out.push(frame(FrameType.SETTINGS, m.ack ? 1 : 0, 0, m.ack ? Buffer.alloc(0) : settingsPayload([[4, 65535 + i]])));
        break;
      case 'ping-flood':
        for (let i = 0; i < m.frames; i++) out.push(frame(FrameType.PING, 0, 0, Buffer.alloc(8, i & 0xff)));
        break;
      case 'window-update':
        for (let i = 0; i < m.times; i++) out.push(frame(FrameType.WINDOW_UPDATE, 0, m.stream === 'zero' ? 0 : last, u32(m.increment & 0x7fffffff)));
        break;
      case 'settings':
        out.push(frame(FrameType.SETTINGS, 0, 0, settingsPayload(m.values)));
        break;
      case 'raw':
        out.push(Buffer.from(m.bytes));
        break;
    }
  }
  return Buffer.concat(out);
}

/** A short account of a connection's moves, for a failure's report. */
export function describeConnection(c: H2Connection): string {
  const moves = c.moves.map((m) => {
    switch (m.move) {
      case 'request':
        return `request (${m.mutation}${m.extra.length ? `, +${m.extra.length} fields` : ''}${m.split ? ', CONTINUATION' : ''}${m.padded ? ', padded' : ''}${m.body !== null ? `, DATA ${m.body.length} bytes` : ''}${m.endStream ? ', END_STREAM' : ''})`;
      case 'frame':
        return `frame type ${m.type} flags 0x${m.flags.toString(16)} stream ${m.stream} payload ${m.payload.length} bytes${m.lengthDelta ? ` (length off by ${m.lengthDelta})` : ''}`;
      default:
        return JSON.stringify(m);
    }
  });
  return [`preface ${c.preface}${c.settings ? ', SETTINGS' : ', no SETTINGS'}`, ...moves].join('\n  then ');
}

/**
 * Connections a client within the protocol could open: valid preface and SETTINGS, well-formed
 * requests (split over CONTINUATION, padded, with priority, with bodies, each ending its
 * stream), and floods of frames that are each allowed (SETTINGS, PING, WINDOW_UPDATE).
 */
export const wellFormedConnection: fc.Arbitrary<H2Connection> = fc.record({
  preface: fc.constant('valid' as const),
  settings: fc.constant(true),
  moves: fc.array(
    fc.oneof(
      // Every request ends its stream: one left open is an upload the client abandons (issue 21 defect 2's shape).
      { weight: 4, arbitrary: move.filter((m) => m.move === 'request').map((m) => ({ ...m, mutation: 'none', endStream: true }) as Move) },
      // SETTINGS without ACK (an unsolicited ACK is a protocol error), PINGs.
      { weight: 1, arbitrary: move.filter((m) => (m.move === 'settings-flood' && !m.ack) || m.move === 'ping-flood') },
      { weight: 1, arbitrary: fc.integer({ min: 1, max: 2 ** 20 }).map((increment): Move => ({ move: 'window-update', stream: 'zero', increment, times: 1 })) },
    ),
    { minLength: 1, maxLength: 6 },
  ),
});
