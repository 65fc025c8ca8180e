// Inputs of the shapes that showed issue 21's defects and what the fuzz suite found
// besides them, each a property of its own (test/fuzz/regressions.test.ts) run on many
// connections of its shape: the main properties draw them only now and then.
import fc from 'fast-check';
import { pipeline, validRequest, type Pipeline, type RequestSpec } from './arbitraries/http1.ts';

export interface Regression {
  /** `issue 21 defect N` for the list, `issue 21 finding` for what the fuzz found. */
  id: string;
  /** What must hold, as a sentence. */
  what: string;
  /** The frontend where it showed. */
  frontend: string;
  /** Connections of that shape. */
  examples: fc.Arbitrary<Pipeline>;
  /** Cases its property runs in CI (3 when not said). */
  runs?: number;
}

/** Connections whose first request is `shape` of a generated one. */
const firstIs = (shape: (r: RequestSpec) => RequestSpec) => pipeline.map((p) => ({ ...p, requests: [shape(p.requests[0]!), ...p.requests.slice(1)] }));
const host = { name: 'Host', sep: ': ', value: 'example.com' };

export const regressions: Regression[] = [
  {
    id: 'issue 21 defect 8',
    what: 'requests with bodies one after another over one pooled server connection leave no listener behind (no MaxListenersExceededWarning)',
    frontend: 'plain',
    examples: fc.constant({
      requests: [
        {
          method: 'POST',
          target: '/',
          version: 'HTTP/1.1',
          headers: [host, { name: 'Content-Length', sep: ': ', value: '5' }],
          eol: '\r\n',
          cutHead: false,
          body: { kind: 'raw' as const, data: 'hello' },
        },
      ],
      delivery: { cuts: [], finish: 'end' as const },
    }),
    runs: 40,
  },
  {
    id: 'issue 21 defect 1',
    what: 'a malformed chunked body (ZZ) behind an async tap on the request path gets 400, and the worker lives',
    frontend: 'async-taps',
    examples: firstIs((r) => ({
      ...r,
      method: 'POST',
      version: 'HTTP/1.1',
      eol: '\r\n',
      cutHead: false,
      headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'chunked' }],
      body: { kind: 'chunked', chunks: [{ data: 'hello', size: { kind: 'raw', text: 'ZZ', valid: false }, ext: '' }], last: true, trailers: [], end: true },
    })),
  },
  {
    id: 'issue 21 finding',
    what: 'a chunked body that breaks (a bad chunk size, a bad trailer), also behind a head the gateway refused itself, gets 400, charges no server and kills no process',
    // Every chunked request but a whole, valid one first in its connection, with token-named trailers.
    frontend: 'rate-limit',
    examples: firstIs((r) => ({
      ...r,
      method: 'POST',
      version: 'HTTP/1.1',
      eol: '\r\n',
      cutHead: false,
      headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'chunked' }],
      body: { kind: 'chunked', chunks: [{ data: 'hello', size: { kind: 'raw', text: 'ZZ', valid: false }, ext: '' }], last: true, trailers: [], end: true },
    })).chain((p) => fc.constantFrom('HTTP/1.1', 'HTTP/1.0').map((version) => ({ ...p, requests: [{ ...p.requests[0]!, version }, ...p.requests.slice(1)] }))),
  },
  {
    id: 'issue 21 finding',
    what: 'a Transfer-Encoding not ending in chunked is refused at its head, before anything reaches a server',
    frontend: 'sync-taps',
    examples: firstIs((r) => ({ ...r, version: 'HTTP/1.1', headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'identity' }], cutHead: false })),
  },
  {
    id: 'issue 21 defect 6',
    what: 'an absolute-form target without a host (http:///x) gets 400',
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, version: null, eol: '\r\n' })),
  },
  {
    id: 'issue 21 defect 6',
    what: 'a request line with a version other than 1.0 or 1.1 (GET / HTTP/2.0) gets 505 and is not proxied',
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, version: 'HTTP/2.0', eol: '\r\n', headers: [host], cutHead: false, body: { kind: 'none' } })),
  },
  {
    id: 'issue 21 defect 2',
    what: 'a client that leaves during its request body is charged to nobody',
    frontend: 'plain',
    examples: firstIs((r) => ({
      ...r,
      method: 'POST',
      version: 'HTTP/1.1',
      eol: '\r\n',
      cutHead: false,
      headers: [host, { name: 'Content-Length', sep: ': ', value: '100' }],
      body: { kind: 'raw', data: 'cut short' },
    })),
  },
  {
    id: 'issue 21 defect 6',
    what: 'an absolute-form target without a host (http:///x) is forwarded',
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, target: 'http:///x', version: 'HTTP/1.1', eol: '\r\n', headers: [host], cutHead: false, body: { kind: 'none' } })),
  },
  {
    id: 'issue 21 finding',
    what: "a target not in origin-form reaches the server in origin form with the target's authority as Host (absolute form), or gets 400 (asterisk form but for OPTIONS, authority form)",
    frontend: 'plain',
    examples: firstIs((r) => ({
      ...r,
      method: 'GET',
      target: 'http://other.example:8080/x',
      version: 'HTTP/1.1',
      eol: '\r\n',
      headers: [host],
      cutHead: false,
      body: { kind: 'none' },
    })).map((p) => ({ ...p, requests: p.requests.slice(0, 1) })),
  },
  {
    id: 'issue 21 finding',
    what: 'a Host that is not uri-host[:port] (a/b, @evil, exa mple.com) gets 400 (RFC 9112 3.2)',
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, method: 'GET', target: '/', version: 'HTTP/1.1', eol: '\r\n', cutHead: false, body: { kind: 'none' } })).chain((p) =>
      fc
        .constantFrom('a/b', '@evil', 'exa mple.com', 'a?b')
        .map((value) => ({ ...p, requests: [{ ...p.requests[0]!, headers: [{ name: 'Host', sep: ': ', value }] }, ...p.requests.slice(1)] })),
    ),
  },
  {
    id: 'issue 21 finding',
    what: 'a 400 to an unparsable HEAD request has no body',
    frontend: 'plain',
    examples: firstIs((r) => ({
      ...r,
      method: 'HEAD',
      version: 'HTTP/1.1',
      eol: '\r\n',
      cutHead: false,
      headers: [host, { name: 'X-Bad', sep: ': ', value: 'a\x01b' }],
      body: { kind: 'none' },
    })),
  },
  {
    id: 'issue 21 finding',
    what: 'bytes that do not parse behind a pipelined request with a body get their 400 in turn, and the process lives',
    frontend: 'plain',
    examples: fc.record({
      requests: fc.tuple(validRequest, fc.constantFrom('x\x01', 'x\x00', 'x / HTTP')).map(([a, after]): RequestSpec[] => [
        { ...a, body: { kind: 'none' }, headers: [host] },
        {
          method: 'POST',
          target: '/',
          version: 'HTTP/1.1',
          headers: [host, { name: 'Content-Length', sep: ': ', value: '1' }],
          eol: '\r\n',
          cutHead: false,
          body: { kind: 'raw', data: after },
        },
      ]),
      delivery: pipeline.map((p) => ({ ...p.delivery, cuts: [] })),
    }),
  },
];
