// Defects known and being fixed elsewhere (issue 21's list, and what this suite found in
// files it does not own): the shapes of input that show them. The main properties leave
// these shapes out so that they keep guarding everything else; each defect has a property
// of its own (test/fuzz/known-defects.test.ts), marked todo until its fix lands. When a
// fix lands, delete its entry: the main properties take its shape back.
import fc from 'fast-check';
import { pipeline, validHost, validRequest, write, type Pipeline, type RequestSpec } from './arbitraries/http1.ts';
import type { TcpCaseSpec } from './arbitraries/tcp.ts';
import type { H1Case } from './harness/h1-case.ts';

export interface KnownDefect {
  /** What the todo says: `issue 21 defect N` for the list, `issue 21 finding: ...` for what the fuzz found. */
  id: string;
  what: string;
  matches(c: H1Case): boolean;
  /** The frontend where it shows. */
  frontend: string;
  /** Connections of that shape, for its own (todo) property. */
  examples: fc.Arbitrary<Pipeline>;
  /** Cases its property runs in CI (3 when not said). */
  runs?: number;
}

/** Connections whose first request is `shape` of a generated one. */
const firstIs = (shape: (r: RequestSpec) => RequestSpec) => pipeline.map((p) => ({ ...p, requests: [shape(p.requests[0]!), ...p.requests.slice(1)] }));
const host = { name: 'Host', sep: ': ', value: 'example.com' };

const anyRequest = (c: H1Case, test: (r: RequestSpec) => boolean) => c.pipeline.requests.some(test);
const announcesBody = (r: RequestSpec) => r.headers.some((h) => /^(content-length|transfer-encoding)$/i.test(h.name));

/** A byte a strict parser refuses in a head: a control other than HTAB, or one above ASCII. */
const oddByte = (r: RequestSpec) => [r.method, r.target, ...r.headers.flatMap((h) => [h.name, h.value])].some((s) => /[\x00-\x08\x0a-\x1f\x7f-\xff]/.test(s));

/** Nothing irregular anywhere: a whole request, origin- or absolute-form, HTTP/1.x, visible ASCII. */
const plain = (r: RequestSpec) => {
  const w = write(r);
  return w.complete && !w.headReject && !w.bodyBroken && !w.overflow && !oddByte(r) && /^(\/|http:\/\/)[\x21-\x7e]*$/.test(r.target);
};

/** The Transfer-Encoding fields' codings, lower case, in order. */
const codings = (r: RequestSpec) => r.headers.filter((h) => h.name.toLowerCase() === 'transfer-encoding').flatMap((h) => h.value.split(',')).map((c) => c.trim().toLowerCase());

export const knownDefects: KnownDefect[] = [
  {
    id: 'issue 21 defect 7',
    what: "requests with bodies, one after another, over the same pooled server connection: MaxListenersExceededWarning on RawSocket (h1-pool's body writer adds socket.once('close', stop) per request and stop() never removes it)",
    matches: () => false, // a leak across cases, not a case's shape: its log line is let pass (knownLogLines)
    frontend: 'plain',
    examples: fc.constant({ requests: [{ method: 'POST', target: '/', version: 'HTTP/1.1', headers: [host, { name: 'Content-Length', sep: ': ', value: '5' }], eol: '\r\n', cutHead: false, body: { kind: 'raw' as const, data: 'hello' } }], delivery: { cuts: [], finish: 'end' as const } }),
    runs: 40,
  },
  {
    id: 'issue 21 defect 1',
    what: "an async tap on the request path and a malformed chunked body (ZZ) kill the worker (unhandled 'error' on RequestBody)",
    matches: (c) => c.fe.name.includes('async-taps') && anyRequest(c, (r) => codings(r).at(-1) === 'chunked' && write(r).bodyBroken !== undefined),
    frontend: 'async-taps',
    examples: firstIs((r) => ({
      ...r, method: 'POST', version: 'HTTP/1.1', eol: '\r\n', cutHead: false,
      headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'chunked' }],
      body: { kind: 'chunked', chunks: [{ data: 'hello', size: { kind: 'raw', text: 'ZZ', valid: false }, ext: '' }], last: true, trailers: [], end: true },
    })),
  },
  {
    id: 'issue 21 finding: a malformed chunked body is charged to the server, or kills the process',
    what: "a chunked body that breaks (a chunk size llhttp refuses, ZZ; a bad trailer; a request line where a chunk should be) after its head was forwarded: the client gets 400 but the server is charged a response error (termination SH); after a head the kernel refused itself (no Host, Transfer-Encoding in HTTP/1.0) the RequestBody's 'error' has no listener and the process exits",
    // Every chunked request but a whole, valid one first in its connection, with token-named trailers.
    matches: (c) => c.pipeline.requests.some((r, i) => {
      if (codings(r).at(-1) !== 'chunked') return false;
      const w = write(r);
      const cleanTrailers = r.body.kind === 'chunked' && r.body.trailers.every((t) => /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(t.name) && t.sep === ': ' && !/[\x00-\x1f\x7f]/.test(t.value));
      return i > 0 || w.headReject !== undefined || w.bodyBroken !== undefined || !w.complete || !cleanTrailers;
    }),
    frontend: 'rate-limit',
    examples: firstIs((r) => ({
      ...r, method: 'POST', version: 'HTTP/1.1', eol: '\r\n', cutHead: false,
      headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'chunked' }],
      body: { kind: 'chunked', chunks: [{ data: 'hello', size: { kind: 'raw', text: 'ZZ', valid: false }, ext: '' }], last: true, trailers: [], end: true },
    })).chain((p) => fc.constantFrom('HTTP/1.1', 'HTTP/1.0').map((version) => ({ ...p, requests: [{ ...p.requests[0]!, version }, ...p.requests.slice(1)] }))),
  },
  {
    id: 'issue 21 finding: a Transfer-Encoding not ending in chunked is refused only after the head went to the server',
    what: "Transfer-Encoding: identity (or any coding but chunked last): llhttp says HPE_INVALID_TRANSFER_ENCODING when the body starts, after the head was forwarded; the client gets 400, the server is charged (SH), and where the body has no 'error' listener yet (sync taps, api-key, rate-limit) the process exits",
    matches: (c) => anyRequest(c, (r) => codings(r).length > 0 && codings(r).at(-1) !== 'chunked'),
    frontend: 'sync-taps',
    examples: firstIs((r) => ({ ...r, version: 'HTTP/1.1', headers: [host, { name: 'Transfer-Encoding', sep: ': ', value: 'identity' }], cutHead: false })),
  },
  {
    id: 'issue 21 defect 4',
    what: 'a request line without a version (HTTP/0.9) is not refused: alone it waits for the header timeout, followed by fields it is proxied as HTTP/0.9',
    matches: (c) => anyRequest(c, (r) => r.version === null),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, version: null, eol: '\r\n' })),
  },
  {
    id: 'issue 21 defect 5',
    what: 'a request line with a version other than 1.0 or 1.1 (GET / HTTP/2.0) is proxied',
    matches: (c) => anyRequest(c, (r) => r.version !== null && /^HTTP\/\d\.\d$/.test(r.version) && r.version !== 'HTTP/1.1' && r.version !== 'HTTP/1.0'),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, version: 'HTTP/2.0', eol: '\r\n', headers: [host], cutHead: false, body: { kind: 'none' } })),
  },
  {
    id: 'issue 21 defect 2',
    what: 'a client that leaves during its request body is charged to the server (502, termination SH)',
    matches: (c) => c.pipeline.requests.some((r) => {
      const w = write(r);
      return !w.headReject && !r.cutHead && announcesBody(r) && !w.complete;
    }),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, method: 'POST', version: 'HTTP/1.1', eol: '\r\n', cutHead: false, headers: [host, { name: 'Content-Length', sep: ': ', value: '100' }], body: { kind: 'raw', data: 'cut short' } })),
  },
  {
    id: 'issue 21 defect 6',
    what: 'an absolute-form target without a host (http:///x) is forwarded',
    matches: (c) => anyRequest(c, (r) => /^http:\/\/\//i.test(r.target)),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, target: 'http:///x', version: 'HTTP/1.1', eol: '\r\n', headers: [host], cutHead: false, body: { kind: 'none' } })),
  },
  {
    id: 'issue 21 finding: a target not in origin-form is forwarded as it came',
    what: 'GET http://b.example:8080/x with Host: a reaches the server as GET http://b.example:8080/x with Host: a (RFC 9112 3.2.2 wants origin-form /x and Host b.example:8080); GET * and GET example.com:443 (asterisk- and authority-form, only for OPTIONS and CONNECT) reach it as they came too, where a 400 is due',
    matches: (c) => anyRequest(c, (r) => !r.target.trim().startsWith('/') && !(r.method === 'OPTIONS' && r.target.trim() === '*')),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, method: 'GET', target: 'http://other.example:8080/x', version: 'HTTP/1.1', eol: '\r\n', headers: [host], cutHead: false, body: { kind: 'none' } })).map((p) => ({ ...p, requests: p.requests.slice(0, 1) })),
  },
  {
    id: 'issue 21 finding: a Host that is not a host is forwarded',
    what: 'Host: a/b (or @evil, exa mple.com) reaches the server; RFC 9112 3.2 wants 400 for a Host field with an invalid value',
    matches: (c) => anyRequest(c, (r) => r.headers.some((h) => h.name.toLowerCase() === 'host' && !validHost(h.value.trim()))),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, method: 'GET', target: '/', version: 'HTTP/1.1', eol: '\r\n', cutHead: false, body: { kind: 'none' } })).chain((p) =>
      fc.constantFrom('a/b', '@evil', 'exa mple.com', 'a?b').map((value) => ({ ...p, requests: [{ ...p.requests[0]!, headers: [{ name: 'Host', sep: ': ', value }] }, ...p.requests.slice(1)] })),
    ),
  },
  {
    id: 'issue 21 finding: a refusal to HEAD carries a body',
    what: 'the 400 written for an unparsable HEAD request has a 16-byte body, which a client reads as the start of the next response',
    matches: (c) => anyRequest(c, (r) => r.method === 'HEAD' && !plain(r)),
    frontend: 'plain',
    examples: firstIs((r) => ({ ...r, method: 'HEAD', version: 'HTTP/1.1', eol: '\r\n', cutHead: false, headers: [host, { name: 'X-Bad', sep: ': ', value: 'a\x01b' }], body: { kind: 'none' } })),
  },
  {
    id: 'issue 21 finding: a parse error behind a pipelined request with a body kills the process',
    what: "a request with a body that waits its turn behind another (pipelined), then bytes that do not parse (a byte after its body, a bad chunk size): refuse() aborts it and its RequestBody emits 'error' with no listener (defect 1's mechanism without an async tap), the process exits",
    matches: (c) => c.pipeline.requests.length > 1 && c.pipeline.requests.slice(1).some(announcesBody),
    frontend: 'plain',
    examples: fc.record({
      requests: fc.tuple(validRequest, fc.constantFrom('x\x01', 'x\x00', 'x / HTTP')).map(([a, after]): RequestSpec[] => [
        { ...a, body: { kind: 'none' }, headers: [host] },
        { method: 'POST', target: '/', version: 'HTTP/1.1', headers: [host, { name: 'Content-Length', sep: ': ', value: '1' }], eol: '\r\n', cutHead: false, body: { kind: 'raw', data: after } },
      ]),
      delivery: pipeline.map((p) => ({ ...p.delivery, cuts: [] })),
    }),
  },
];

/** Log lines that a known defect writes whatever the case (a leak noticed by Node), by the defect's id. */
export const knownLogLines: { id: string; pattern: RegExp }[] = [
  // The worker bundle (esbuild) names the class _RawSocket.
  { id: 'issue 21 defect 7', pattern: /MaxListenersExceededWarning: Possible EventEmitter memory leak detected\. \d+ close listeners added to \[_?RawSocket\]/ },
];

/** The known defect a case would show, if any. */
export function knownDefectOf(c: H1Case): KnownDefect | undefined {
  return knownDefects.find((d) => d.matches(c));
}

/** The entry whose id starts with `id`; a missing one fails at once (an entry renamed or fixed). */
function byId(id: string): KnownDefect {
  const found = knownDefects.find((d) => d.id.startsWith(id));
  if (!found) throw new Error(`known-defects.ts has no entry ${JSON.stringify(id)}`);
  return found;
}

/** The same for a tcp frontend's opening bytes that reach an HTTP frontend. */
export function knownTcpDefectOf(spec: TcpCaseSpec): KnownDefect | undefined {
  const o = spec.opening;
  if (o.kind !== 'http') return undefined;
  if (o.text.startsWith('POST') && o.cut > 0) return byId('issue 21 defect 2');
  if (o.text.includes('\r\n\r\nZZ')) return byId('issue 21 finding: a malformed chunked body');
  if (o.text.startsWith('GET http://')) return byId('issue 21 finding: a target not in origin-form');
  if (o.text.startsWith('GET /\r\n')) return byId('issue 21 defect 4');
  if (o.text.startsWith('GET / HTTP/2.0')) return byId('issue 21 defect 5');
  return undefined;
}
