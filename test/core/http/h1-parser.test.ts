// Pins the behaviour of node's internal llhttp binding (`HTTPParser` from `_http_common`)
// that core/http/h1/ relies on: a Node upgrade that changed any of it fails here first.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  HTTPParser,
  headersOf,
  kOnBody,
  kOnHeaders,
  kOnHeadersComplete,
  kOnMessageComplete,
  methods,
  type ParseError,
  type Parser,
} from '../../../core/http/h1/parser.ts';

interface Seen {
  heads: unknown[][];
  bodies: string[];
  complete: number;
  flushed: string[][];
}

function parser(type: number, maxHeaderSize = 0, onHead: (args: unknown[]) => number = () => 0): { p: Parser; seen: Seen } {
  const seen: Seen = { heads: [], bodies: [], complete: 0, flushed: [] };
  const p = new HTTPParser();
  p.initialize(type, {}, maxHeaderSize, 0);
  p[kOnHeaders] = (raw: string[]) => seen.flushed.push(raw);
  p[kOnHeadersComplete] = (...args: unknown[]) => {
    seen.heads.push(args);
    return onHead(args);
  };
  p[kOnBody] = (b: Buffer) => seen.bodies.push(b.toString('latin1'));
  p[kOnMessageComplete] = () => seen.complete++;
  return { p, seen };
}

const request = (bytes: string) => {
  const { p, seen } = parser(HTTPParser.REQUEST);
  return { result: p.execute(Buffer.from(bytes, 'latin1')), seen };
};

const code = (r: number | ParseError) => (typeof r === 'number' ? 'ok' : r.code);

describe('llhttp as core/http/h1 uses it', () => {
  it('gives the head as (major, minor, raw headers, method index, url, status, message, upgrade, keepAlive)', () => {
    const { result, seen } = request('POST /a?b=1 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc');
    assert.equal(result, 55);
    const [major, minor, raw, method, url, , , upgrade, keepAlive] = seen.heads[0]!;
    assert.deepEqual(
      [major, minor, raw, methods[method as number], url, upgrade, keepAlive],
      [1, 1, ['Host', 'x', 'Content-Length', '3'], 'POST', '/a?b=1', false, true],
    );
    assert.deepEqual(seen.bodies, ['abc']);
    assert.equal(seen.complete, 1);
  });

  it('says keepAlive false for HTTP/1.0 without keep-alive and for Connection: close', () => {
    assert.equal(request('GET / HTTP/1.0\r\n\r\n').seen.heads[0]![8], false);
    assert.equal(request('GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n').seen.heads[0]![8], true);
    assert.equal(request('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n').seen.heads[0]![8], false);
  });

  it('parses pipelined requests in one buffer, one after the other', () => {
    const { seen } = request('GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n');
    assert.deepEqual(
      seen.heads.map((h) => h[4]),
      ['/1', '/2'],
    );
    assert.equal(seen.complete, 2);
  });

  it('refuses the smuggling shapes: CL with TE, two different lengths, a bad chunk size, TE not ending in chunked', () => {
    assert.equal(
      code(request('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n').result),
      'HPE_INVALID_TRANSFER_ENCODING',
    );
    assert.equal(code(request('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd').result), 'HPE_UNEXPECTED_CONTENT_LENGTH');
    assert.equal(code(request('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n').result), 'HPE_INVALID_CHUNK_SIZE');
    assert.notEqual(code(request('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n').result), 'ok');
    assert.notEqual(code(request('GET / HTTP/1.1\r\nHost: x\r\nX: a\nb\r\n\r\n').result), 'ok');
    assert.notEqual(code(request('GET / HTTP/1.1\r\nHost : x\r\n\r\n').result), 'ok');
  });

  it('refuses a head above maxHeaderSize with HPE_HEADER_OVERFLOW', () => {
    const { p } = parser(HTTPParser.REQUEST, 100);
    assert.equal(code(p.execute(Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\nX: ${'a'.repeat(200)}\r\n\r\n`))), 'HPE_HEADER_OVERFLOW');
  });

  it('flushes field lines early through kOnHeaders when there are very many, and then gives none with the head', () => {
    let head = 'GET /many HTTP/1.1\r\nHost: x\r\n';
    for (let i = 0; i < 40; i++) head += `H${i}: v\r\n`;
    const { seen } = request(`${head}\r\n`);
    assert.ok(seen.flushed.length >= 1);
    assert.equal(seen.heads[0]![2], undefined);
    assert.equal(seen.flushed.flat().length, 82);
  });

  it('stops at an upgrade head: execute returns the bytes up to it, the rest is the new protocol', () => {
    const bytes = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nHELLO';
    const { result, seen } = request(bytes);
    assert.equal(result, bytes.length - 'HELLO'.length);
    assert.equal(seen.heads[0]![7], true);
    assert.equal(methods[request('CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n').seen.heads[0]![3] as number], 'CONNECT');
  });

  it('responses: returning 1 from the head skips the body (HEAD), trailers come through kOnHeaders, finish() ends a close-delimited body', () => {
    const head = parser(HTTPParser.RESPONSE, 0, () => 1);
    head.p.execute(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n'));
    assert.deepEqual(
      head.seen.heads.map((h) => h[5]),
      [200, 204],
    );
    assert.deepEqual(head.seen.bodies, []);

    const trailing = parser(HTTPParser.RESPONSE);
    trailing.p.execute(Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nGrpc-Status: 0\r\n\r\n'));
    assert.deepEqual(trailing.seen.bodies, ['abc']);
    assert.deepEqual(trailing.seen.flushed, [['Grpc-Status', '0']]);
    assert.equal(trailing.seen.complete, 1);

    const eof = parser(HTTPParser.RESPONSE);
    eof.p.execute(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'));
    assert.equal(eof.seen.complete, 0);
    assert.equal(eof.p.finish(), undefined);
    assert.equal(eof.seen.complete, 1);
    assert.deepEqual(eof.seen.bodies, ['abc']);
  });
});

describe('headersOf', () => {
  it('lower-cases names, joins repeats with ", " (cookie with "; "), keeps set-cookie a list', () => {
    assert.deepEqual(headersOf(['Host', 'x', 'X-A', '1', 'x-a', '2', 'Cookie', 'a=1', 'cookie', 'b=2', 'Set-Cookie', 's=1', 'set-cookie', 't=2']), {
      host: 'x',
      'x-a': '1, 2',
      cookie: 'a=1; b=2',
      'set-cookie': ['s=1', 't=2'],
    });
  });
});
