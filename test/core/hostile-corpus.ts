// Malformed requests and aborted uploads, each with the answer it must get: the corpus
// test/core/hostile.test.ts sends against two workers with async taps. `then` finishes
// the conversation: `end` half-closes, `reset` resets, `silent` waits for the gateway.
export interface HostileCase {
  readonly name: string;
  readonly bytes: string;
  /** The status the gateway answers (several for pipelined requests), or 0: it closes without a word (nobody left to read one). */
  readonly status: number | readonly number[];
  readonly then?: 'end' | 'reset' | 'silent';
}

const h = (line: string, ...fields: string[]) => `${line}\r\n${fields.map((f) => `${f}\r\n`).join('')}\r\n`;
const chunked = (body: string) => h('POST /upload HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked') + body;

export const hostileCorpus: readonly HostileCase[] = [
  // Request lines
  { name: 'HTTP/0.9', bytes: 'GET /\r\n', status: 400 },
  { name: 'HTTP/0.9, bare LF', bytes: 'GET /\n', status: 400 },
  { name: 'HTTP/2.0 on an HTTP/1 connection', bytes: h('GET / HTTP/2.0', 'Host: x'), status: 505 },
  { name: 'HTTP/1.2', bytes: h('GET / HTTP/1.2', 'Host: x'), status: 400 },
  { name: 'a version of letters', bytes: h('GET / HTTP/x.y', 'Host: x'), status: 400 },
  { name: 'a method with a bracket', bytes: h('G(T / HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'two spaces in the request line', bytes: h('GET  / HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'a target of letters', bytes: h('GET x HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'an absolute target without authority', bytes: h('GET http:///x HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'an absolute target with userinfo', bytes: h('GET http://a:b@x/ HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'an ftp target', bytes: h('GET ftp://x/ HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'CONNECT', bytes: h('CONNECT x:443 HTTP/1.1', 'Host: x:443'), status: 405 },
  { name: 'the HTTP/2 preface on an HTTP/1 port', bytes: 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', status: 400 },
  { name: 'PRI as a method', bytes: 'PRI / HTTP/1.1\r\n\r\n', status: 400 },
  { name: 'asterisk form with GET', bytes: h('GET * HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'authority form with GET', bytes: h('GET x:443 HTTP/1.1', 'Host: x'), status: 400 },
  { name: 'a NUL in the target', bytes: h('GET /\0 HTTP/1.1', 'Host: x'), status: 400 },
  // Header fields
  { name: 'no Host in HTTP/1.1', bytes: h('GET / HTTP/1.1'), status: 400 },
  { name: 'two Host fields', bytes: h('GET / HTTP/1.1', 'Host: a', 'Host: b'), status: 400 },
  { name: 'a Host with a slash', bytes: h('GET / HTTP/1.1', 'Host: a/b'), status: 400 },
  { name: 'a Host with userinfo', bytes: h('GET / HTTP/1.1', 'Host: u@x'), status: 400 },
  { name: 'a Host with a space', bytes: h('GET / HTTP/1.1', 'Host: exa mple.com'), status: 400 },
  { name: 'a space before the colon', bytes: h('GET / HTTP/1.1', 'Host : x'), status: 400 },
  { name: 'an obs-fold line', bytes: h('GET / HTTP/1.1', 'Host: x', 'X-A: 1', ' folded'), status: 400 },
  { name: 'a NUL in a value', bytes: h('GET / HTTP/1.1', 'Host: x', 'X-A: a\0b'), status: 400 },
  { name: 'a bare CR in a value', bytes: h('GET / HTTP/1.1', 'Host: x', 'X-A: a\rb'), status: 400 },
  { name: 'a field without a colon', bytes: h('GET / HTTP/1.1', 'Host: x', 'X-A'), status: 400 },
  { name: 'a head larger than max_header_size', bytes: h('GET / HTTP/1.1', 'Host: x', `X-Big: ${'a'.repeat(20_000)}`), status: 431 },
  { name: 'an expectation other than 100-continue', bytes: h('GET / HTTP/1.1', 'Host: x', 'Expect: magic'), status: 417 },
  // Framing: the smuggling shapes
  {
    name: 'Content-Length and Transfer-Encoding',
    bytes: h('POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Transfer-Encoding: chunked') + '0\r\n\r\n',
    status: 400,
  },
  { name: 'two different Content-Length', bytes: h('POST / HTTP/1.1', 'Host: x', 'Content-Length: 5', 'Content-Length: 6') + 'hello', status: 400 },
  { name: 'a Content-Length with a letter', bytes: h('POST / HTTP/1.1', 'Host: x', 'Content-Length: 5x') + 'hello', status: 400 },
  { name: 'a negative Content-Length', bytes: h('POST / HTTP/1.1', 'Host: x', 'Content-Length: -1'), status: 400 },
  {
    name: 'a Transfer-Encoding that does not end in chunked',
    bytes: h('POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked, gzip') + '0\r\n\r\n',
    status: 400,
  },
  { name: 'an unknown Transfer-Encoding', bytes: h('POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: xchunked') + '0\r\n\r\n', status: 400 },
  { name: 'Transfer-Encoding: identity', bytes: h('POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: identity') + 'hello', status: 400 },
  { name: 'chunked twice', bytes: h('POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: chunked, chunked') + '0\r\n\r\n', status: 400 },
  {
    name: 'a transfer coding the gateway does not decode',
    bytes: h('POST / HTTP/1.1', 'Host: x', 'Transfer-Encoding: gzip, chunked') + '0\r\n\r\n',
    status: 400,
  },
  { name: 'Transfer-Encoding in HTTP/1.0', bytes: h('POST / HTTP/1.0', 'Host: x', 'Transfer-Encoding: chunked') + '0\r\n\r\n', status: 400 },
  {
    name: 'an upgrade with a body',
    bytes: h('GET / HTTP/1.1', 'Host: x', 'Connection: upgrade', 'Upgrade: websocket', 'Content-Length: 3') + 'abc',
    status: 400,
  },
  { name: 'a Content-Length over max_body_size', bytes: h('POST / HTTP/1.1', 'Host: x', 'Content-Length: 100000'), status: 413 },
  // Chunked bodies
  { name: 'a chunk size of letters', bytes: chunked('ZZ\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a chunk size past 64 bits', bytes: chunked('FFFFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a negative chunk size', bytes: chunked('-5\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a chunk without its CRLF', bytes: chunked('5\r\nhelloX0\r\n\r\n'), status: 400 },
  { name: 'a chunk extension with a NUL', bytes: chunked('5;a=\0\r\nhello\r\n0\r\n\r\n'), status: 400 },
  { name: 'a trailer without a colon', bytes: chunked('5\r\nhello\r\n0\r\nbroken\r\n\r\n'), status: 400 },
  { name: 'chunks past max_body_size', bytes: chunked(`${'1000\r\n' + 'y'.repeat(4096) + '\r\n'}`.repeat(3) + '0\r\n\r\n'), status: 413 },
  // Clients that give up
  {
    name: 'an upload cut short, then a half-close',
    bytes: h('POST /upload HTTP/1.1', 'Host: x', 'Content-Length: 1000') + '0123456789',
    status: 400,
    then: 'end',
  },
  { name: 'an upload cut short, then a reset', bytes: h('POST /upload HTTP/1.1', 'Host: x', 'Content-Length: 1000') + '0123456789', status: 0, then: 'reset' },
  { name: 'an upload that goes silent', bytes: h('POST /upload HTTP/1.1', 'Host: x', 'Content-Length: 1000') + '0123456789', status: 408, then: 'silent' },
  { name: 'a chunked upload cut short, then a reset', bytes: chunked('5\r\nhello\r\n'), status: 0, then: 'reset' },
  { name: 'a chunked upload that goes silent', bytes: chunked('5\r\nhello\r\n'), status: 408, then: 'silent' },
  { name: 'a head cut short, then a half-close', bytes: 'GET / HTTP/1.1\r\nHost: x\r\n', status: 0, then: 'end' },
  { name: 'a head that goes silent', bytes: 'GET / HTTP/1.1\r\nHost: x\r\n', status: 408, then: 'silent' },
  // Pipelined: a good request, then a bad one
  { name: 'a good request, then a chunk size of letters', bytes: h('GET /ok HTTP/1.1', 'Host: x') + chunked('ZZ\r\n'), status: [200, 400] },
  { name: 'a good request, then HTTP/0.9', bytes: h('GET /ok HTTP/1.1', 'Host: x') + 'GET /\r\n\r\n', status: [200, 400] },
];
