// HTTP/1 requests, valid and not: each generated as a plain description (so a failure
// prints something a person can read, and shrinks part by part) and then written out
// as bytes, together with what the gateway must make of it (the oracle).
import fc from 'fast-check';

/** One header line as it goes on the wire: `name` + `sep` + `value`. */
export interface HeaderLine {
  name: string;
  /** `:` and what follows it: `": "`, `":"`, `" : "` (whitespace before the colon), `""` (no colon). */
  sep: string;
  value: string;
}

export type ChunkSize = { kind: 'exact' } | { kind: 'raw'; text: string; valid: boolean };

export interface Chunk {
  data: string;
  size: ChunkSize;
  /** `;name=value` after the size, written as is. */
  ext: string;
}

export type Body =
  | { kind: 'none' }
  /** Bytes after the head, as they are (with a Content-Length or not). */
  | { kind: 'raw'; data: string }
  | { kind: 'chunked'; chunks: Chunk[]; last: boolean; trailers: HeaderLine[]; end: boolean };

export interface RequestSpec {
  method: string;
  target: string;
  /** `HTTP/1.1`, or anything else; `null` writes no version at all (HTTP/0.9's request line). */
  version: string | null;
  headers: HeaderLine[];
  /** The line end of the head: CRLF, or a bare LF / CR. */
  eol: string;
  /** Stop writing the head before its blank line. */
  cutHead: boolean;
  body: Body;
}

export interface Written {
  bytes: Buffer;
  /** Why the gateway must refuse the head itself (no server may see it), if it must. */
  headReject?: string;
  /** Why the body breaks its framing (the gateway answers 4xx or closes; a server may have seen the head), even when the head must be refused. */
  bodyBroken?: string;
  /** Everything the request announces is there: the gateway has all it needs to answer. */
  complete: boolean;
  upgrade: boolean;
  /** Bytes after the body as framed: they will be read as a further request. */
  overflow: boolean;
}

const tchar = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const methods = [
  'GET',
  'POST',
  'PUT',
  'HEAD',
  'DELETE',
  'OPTIONS',
  'PATCH',
  'TRACE',
  'PURGE',
  'CONNECT',
  'get',
  'G ET',
  '',
  'G\x00T',
  'FOO',
  'M-SEARCH',
  'PRI',
];

const targets = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom('/', '/index.html', '/a/b?c=d&e', '/old/x', '/robots.txt', '/auth/me', '/api/v1?x=1', '//double', '/%2e%2e/etc', '/?'),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'http://example.com/',
      'http://example.com:8080/x?y',
      'http:///empty-host',
      'https://example.com/',
      'HTTP://EXAMPLE.COM/',
      'http://user@example.com/',
      'ftp://example.com/',
    ),
  },
  { weight: 1, arbitrary: fc.constantFrom('*', 'example.com:443', 'example.com', '', ' /', '/a b', '/\x00', '/\x7f', '/\x80\xff', '/#frag') },
  { weight: 1, arbitrary: fc.stringMatching(/^\/[\x21-\x7e]{0,30}$/) },
  { weight: 1, arbitrary: fc.integer({ min: 2000, max: 70000 }).map((n) => '/' + 'a'.repeat(n)) },
);

const versions = fc.oneof(
  { weight: 12, arbitrary: fc.constant('HTTP/1.1') },
  { weight: 3, arbitrary: fc.constant('HTTP/1.0') },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      null,
      'HTTP/2.0',
      'HTTP/0.9',
      'HTTP/1.2',
      'HTTP/3',
      'http/1.1',
      'HTTP/11',
      'HTTP/1.1 ',
      'HTTP/1',
      'HTTP/9.9',
      'HTTPS/1.1',
      'HTTP/1.1\x00',
      'HTTP/1.01',
    ),
  },
);

/** Values with one way of being wrong each: a CTL, NUL, bare CR or LF, a fold, high bytes. */
const valueSpice = fc.constantFrom('', '', '', '\x00', '\r', '\n', '\x01', '\x7f', '\t', ' ', '\r\n folded', '\xff\xfe', ' leading', 'trailing ');

const plainValue = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,20}[\x21-\x7e])?$/);

const headerValue = fc.tuple(plainValue, valueSpice, fc.boolean()).map(([v, spice, front]) => (front ? spice + v : v + spice));

const separators = fc.oneof({ weight: 20, arbitrary: fc.constant(': ') }, { weight: 1, arbitrary: fc.constantFrom(':', ' : ', ' :', '', ':\t', '\t:') });

const headerName = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'Host',
      'Content-Length',
      'Transfer-Encoding',
      'Connection',
      'Expect',
      'Upgrade',
      'Accept',
      'Cookie',
      'Authorization',
      'X-Api-Key',
      'Cache-Control',
      'TE',
      'Trailer',
      'Keep-Alive',
      'Proxy-Connection',
      'X-Forwarded-For',
      'Content-Type',
      'Range',
      'If-None-Match',
      'Sec-WebSocket-Key',
      'Sec-WebSocket-Version',
    ),
  },
  { weight: 2, arbitrary: fc.stringMatching(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,12}$/) },
  { weight: 1, arbitrary: fc.constantFrom('', 'Bad Name', 'X\x00Y', 'Näme', 'Host ', ' Host', '\tX', '(x)', 'X\x7f') },
);

/** Field values the gateway frames messages with, valid and not. */
const framingValue: Record<string, fc.Arbitrary<string>> = {
  'content-length': fc.constantFrom('0', '5', '10', '100', '-1', '+5', ' 5', '5 ', '5,5', '0x5', '', '99999999999999999999', '1e3', '05'),
  'transfer-encoding': fc.constantFrom(
    'chunked',
    'Chunked',
    'gzip, chunked',
    'chunked, gzip',
    'identity',
    ' chunked',
    'chunked ',
    'xchunked',
    'chunked,',
    '',
    'chunked\x00',
  ),
  host: fc.constantFrom(
    'example.com',
    'localhost',
    '127.0.0.1:8080',
    '',
    ' ',
    'exa mple.com',
    'example.com:',
    'example.com:99999',
    '[::1]:80',
    'a/b',
    'ex\x01ample.com',
    '@evil',
  ),
  connection: fc.constantFrom('close', 'keep-alive', 'upgrade', 'Upgrade, Keep-Alive', 'x-hop, close', 'te'),
  expect: fc.constantFrom('100-continue', '100-Continue', 'nothing', ''),
  upgrade: fc.constantFrom('websocket', 'h2c', 'foo/1, websocket', ''),
};

const header: fc.Arbitrary<HeaderLine> = fc.tuple(headerName, separators, headerValue).chain(([name, sep, value]) => {
  // Own keys only: a generated name may well be `constructor`.
  const special = Object.hasOwn(framingValue, name.toLowerCase()) ? framingValue[name.toLowerCase()] : undefined;
  return special
    ? fc.oneof({ weight: 3, arbitrary: special }, { weight: 1, arbitrary: fc.constant(value) }).map((v) => ({ name, sep, value: v }))
    : fc.constant({ name, sep, value });
});

const hugeHeader: fc.Arbitrary<HeaderLine> = fc.integer({ min: 8 * 1024, max: 40 * 1024 }).map((n) => ({ name: 'X-Huge', sep: ': ', value: 'h'.repeat(n) }));

const chunkData = fc.oneof(fc.constantFrom('', 'a', 'hello', '\r\n', '0\r\n\r\n'), fc.string({ maxLength: 40 }));

const chunkSize: fc.Arbitrary<ChunkSize> = fc.oneof(
  { weight: 8, arbitrary: fc.constant({ kind: 'exact' as const }) },
  {
    weight: 1,
    arbitrary: fc
      .constantFrom('ZZ', '-1', '', ' 5', '5 ', 'FFFFFFFFFFFFFFFFFF', '0x5', '5\x00', '1_0')
      .map((text) => ({ kind: 'raw' as const, text, valid: false })),
  },
  { weight: 1, arbitrary: fc.nat({ max: 64 }).map((n) => ({ kind: 'raw' as const, text: n.toString(16), valid: true })) },
);

const chunkExt = fc.oneof(
  { weight: 8, arbitrary: fc.constant('') },
  { weight: 1, arbitrary: fc.constantFrom(';a=b', ';a', ';a="q"', '; a=b', ';\x00', ';a=b\r', ';=') },
);

const body: fc.Arbitrary<Body> = fc.oneof(
  { weight: 4, arbitrary: fc.constant({ kind: 'none' as const }) },
  {
    weight: 2,
    arbitrary: fc
      .oneof(fc.constantFrom('hello', '12345', 'GET / HTTP/1.1\r\nHost: smuggled\r\n\r\n'), fc.string({ maxLength: 60 }))
      .map((data) => ({ kind: 'raw' as const, data })),
  },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('chunked' as const),
      chunks: fc.array(fc.record({ data: chunkData, size: chunkSize, ext: chunkExt }), { maxLength: 4 }),
      last: fc.boolean(),
      trailers: fc.array(header, { maxLength: 2 }),
      end: fc.boolean(),
    }),
  },
);

/** A request, valid more often than not, each part of it sometimes wrong. */
export const request: fc.Arbitrary<RequestSpec> = fc.record({
  method: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('GET', 'POST', 'HEAD') }, { weight: 1, arbitrary: fc.constantFrom(...methods) }),
  target: targets,
  version: versions,
  headers: fc
    .tuple(
      fc.oneof(
        { weight: 8, arbitrary: fc.constant<HeaderLine[]>([{ name: 'Host', sep: ': ', value: 'example.com' }]) },
        { weight: 1, arbitrary: fc.constant<HeaderLine[]>([]) },
      ),
      fc.array(header, { maxLength: 6 }),
      fc.oneof({ weight: 12, arbitrary: fc.constant<HeaderLine[]>([]) }, { weight: 1, arbitrary: hugeHeader.map((h) => [h]) }),
    )
    .map(([host, more, huge]) => [...host, ...more, ...huge]),
  eol: fc.oneof({ weight: 20, arbitrary: fc.constant('\r\n') }, { weight: 1, arbitrary: fc.constantFrom('\n', '\r') }),
  cutHead: fc.oneof({ weight: 15, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  body,
});

/** A request with no mistake in it: method, origin-form target, HTTP/1.1, Host, a body framed as announced. */
export const validRequest: fc.Arbitrary<RequestSpec> = fc
  .record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'OPTIONS'),
    target: fc.constantFrom('/', '/index.html', '/a/b?c=d&e', '/old/x'),
    version: fc.constantFrom('HTTP/1.1', 'HTTP/1.0'),
    headers: fc.constant<HeaderLine[]>([{ name: 'Host', sep: ': ', value: 'example.com' }]),
    eol: fc.constant('\r\n'),
    cutHead: fc.constant(false),
    body: fc.oneof(
      fc.constant({ kind: 'none' as const }),
      fc.string({ maxLength: 20 }).map((data) => ({ kind: 'raw' as const, data })),
    ),
  })
  .map((r): RequestSpec =>
    r.body.kind === 'raw'
      ? { ...r, headers: [...r.headers, { name: 'Content-Length', sep: ': ', value: String(Buffer.byteLength(r.body.data, 'latin1')) }] }
      : r,
  );

const lower = (s: string) => s.toLowerCase();

/** uri-host [ ":" port ]: an IP literal in brackets, or a reg-name (unreserved, sub-delims, %HH), then digits. */
export const validHost = (v: string) => /^(\[[0-9A-Fa-f:.]+\]|([A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(:[0-9]*)?$/.test(v);

/**
 * Writes `spec` out and says what the gateway must make of it. The oracle only claims what
 * RFC 9112 requires or the README promises (400 for conflicting framing, folds, bare LF,
 * several Hosts...); anything it does not claim, the gateway may answer either way.
 */
export function write(spec: RequestSpec, maxHeaderSize = 16 * 1024): Written {
  const { method, target, version, headers, eol } = spec;
  const reasons: string[] = [];
  const reject = (why: string) => reasons.push(why);

  if (!tchar.test(method)) reject(`method ${JSON.stringify(method)} is not a token`);
  if (version === null) reject('no version (HTTP/0.9)');
  else if (version !== 'HTTP/1.1' && version !== 'HTTP/1.0') reject(`version ${JSON.stringify(version)}`);
  // RFC 9112 3 lets a server split the request line on any whitespace: only a target with whitespace inside, or none, is wrong.
  if (target.trim() === '' || /[\x00-\x20\x7f]/.test(target.trim()))
    reject(`target ${JSON.stringify(target)} is empty or has a space or control character inside`);
  if (/^http:\/\/\//i.test(target)) reject('absolute-form target without a host');
  if (eol !== '\r\n') reject(`line end ${JSON.stringify(eol)}`);
  if (method === 'CONNECT') reject('CONNECT (405)');

  const byName = new Map<string, string[]>();
  for (const h of headers) {
    // Judged as the line reads on the wire: `Host` + `` + `a:1` is a field `Hosta` with value `1`.
    const line = h.name + h.sep + h.value;
    const colon = line.indexOf(':');
    if (colon === -1) {
      reject('a field line without a colon');
      continue;
    }
    const name = line.slice(0, colon);
    const value = line.slice(colon + 1);
    if (/[ \t]$/.test(name)) reject('whitespace before a colon');
    else if (!tchar.test(name)) reject(`field name ${JSON.stringify(name)} is not a token`);
    if (/[\x00\r\n]/.test(value)) reject(`field value ${JSON.stringify(value)} holds NUL, CR or LF (or is folded)`);
    const list = byName.get(lower(name)) ?? [];
    list.push(value.trim());
    byName.set(lower(name), list);
  }
  const hosts = byName.get('host') ?? [];
  if (hosts.length > 1) reject('several Host fields');
  if (hosts.length === 0 && version === 'HTTP/1.1') reject('HTTP/1.1 without Host');
  // RFC 9112 3.2: 400 for a Host whose value is not uri-host [ ":" port ] (RFC 3986 3.2.2; an empty reg-name is allowed).
  if (hosts.length === 1 && !validHost(hosts[0]!)) reject(`Host ${JSON.stringify(hosts[0])} is not a host and port`);
  const cl = byName.get('content-length') ?? [];
  const te = byName.get('transfer-encoding') ?? [];
  if (cl.length > 1) reject('several Content-Length fields');
  if (cl.length === 1 && !/^\d+$/.test(cl[0]!)) reject(`Content-Length ${JSON.stringify(cl[0])}`);
  if (cl.length > 0 && te.length > 0) reject('Content-Length and Transfer-Encoding');
  const codings = te
    .join(',')
    .split(',')
    .map((c) => c.trim().toLowerCase());
  const chunked = te.length > 0 && codings.at(-1) === 'chunked';
  if (te.length > 0 && !chunked) reject(`Transfer-Encoding ${JSON.stringify(te.join(', '))} does not end in chunked`);
  if (te.length > 0 && version === 'HTTP/1.0') reject('Transfer-Encoding in HTTP/1.0');
  const expect = byName.get('expect');
  if (expect && expect.some((e) => e.toLowerCase() !== '100-continue')) reject('an expectation other than 100-continue (417)');
  const upgrade = (byName.get('connection') ?? []).some((c) => /(^|,)\s*upgrade\s*(,|$)/i.test(c)) && (byName.get('upgrade') ?? []).some((u) => u !== '');

  const requestLine = version === null ? `${method} ${target}` : `${method} ${target} ${version}`;
  let head = requestLine + eol + headers.map((h) => `${h.name}${h.sep}${h.value}`).join(eol) + (headers.length ? eol : '') + eol;
  if (head.length > maxHeaderSize) reject(`a head of ${head.length} bytes (431)`);
  if (spec.cutHead) head = head.slice(0, Math.max(1, head.length - eol.length - 1));

  // The body, as the head frames it.
  let bodyText = '';
  let bodyBroken: string | undefined;
  let complete = !spec.cutHead;
  const announced = cl.length === 1 && /^\d+$/.test(cl[0]!) ? Number(cl[0]) : 0;
  const b = spec.body;
  if (b.kind === 'raw') {
    bodyText = b.data;
  } else if (b.kind === 'chunked') {
    const parts: string[] = [];
    for (const c of b.chunks) {
      const size = c.size.kind === 'exact' ? Buffer.byteLength(c.data, 'latin1').toString(16) : c.size.text;
      if (c.size.kind === 'raw' && !c.size.valid) bodyBroken ??= `chunk size ${JSON.stringify(c.size.text)}`;
      if (/[\x00\r\n]/.test(c.ext)) bodyBroken ??= `chunk extension ${JSON.stringify(c.ext)}`;
      parts.push(`${size}${c.ext}\r\n${c.data}\r\n`);
    }
    if (b.last) parts.push(`0\r\n${b.trailers.map((t) => `${t.name}${t.sep}${t.value}\r\n`).join('')}${b.end ? '\r\n' : ''}`);
    bodyText = parts.join('');
    if (chunked) {
      if (!b.last || !b.end) complete = false;
      // A chunk whose data is longer or shorter than its size breaks the framing.
      if (b.chunks.some((c) => c.size.kind === 'raw' && c.size.valid && parseInt(c.size.text, 16) !== Buffer.byteLength(c.data, 'latin1')))
        bodyBroken ??= 'a chunk whose data does not match its size';
    }
  }
  if (chunked && b.kind !== 'chunked') complete = false; // a chunked body that never comes (or is not chunked)
  if (chunked && b.kind === 'raw' && b.data !== '' && !/^[0-9a-fA-F]+(;|\r|$)/.test(b.data))
    bodyBroken ??= `a body that is not chunked: ${JSON.stringify(b.data.slice(0, 10))}`;
  if (!chunked && Buffer.byteLength(bodyText, 'latin1') < announced) complete = false;
  const overflow = !chunked && Buffer.byteLength(bodyText, 'latin1') > announced;
  if (upgrade && (announced > 0 || chunked)) reject('an upgrade with a body (400)');
  const headReject = reasons[0];
  return {
    bytes: Buffer.from(head + (spec.cutHead ? '' : bodyText), 'latin1'),
    headReject,
    bodyBroken,
    complete: complete && !headReject && !bodyBroken,
    upgrade,
    overflow: !spec.cutHead && overflow,
  };
}

/** How a fuzz case's bytes go out, and how the client finishes. */
export interface Delivery {
  /** Write boundaries, as fractions of the whole: the bytes go out in that many writes. */
  cuts: number[];
  /** `end`: half-close after the last write (answers in hand still come); `hold`: keep the connection open. */
  finish: 'end' | 'hold';
}

export const delivery: fc.Arbitrary<Delivery> = fc.record({
  cuts: fc.oneof(
    { weight: 3, arbitrary: fc.constant<number[]>([]) },
    { weight: 1, arbitrary: fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 4 }) },
  ),
  finish: fc.constantFrom('end' as const, 'hold' as const),
});

/** One connection's worth: one to three requests back to back (pipelined), then how it ends. */
export const pipeline = fc.record({
  requests: fc.oneof(
    { weight: 4, arbitrary: request.map((r) => [r]) },
    { weight: 1, arbitrary: fc.tuple(validRequest, request).map(([a, b]) => [a, b]) },
    { weight: 1, arbitrary: fc.tuple(request, validRequest, validRequest).map(([a, b, c]) => [a, b, c]) },
  ),
  delivery,
});
export type Pipeline = typeof pipeline extends fc.Arbitrary<infer T> ? T : never;
