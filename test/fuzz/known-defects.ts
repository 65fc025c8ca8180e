// Defects known and being fixed elsewhere (issue 21's list, and what this suite found in
// files it does not own): the shapes of input that show them. The main properties leave
// these shapes out so that they keep guarding everything else; each defect has a property
// of its own (test/fuzz/known-defects.test.ts), marked todo until its fix lands. When a
// fix lands, delete its entry: the main properties take its shape back.
import { write, type RequestSpec } from './arbitraries/http1.ts';
import type { H1Case } from './harness/h1-case.ts';

export interface KnownDefect {
  /** What the todo says: `issue 21 defect N` for the list, `issue 21 finding: ...` for what the fuzz found. */
  id: string;
  what: string;
  matches(c: H1Case): boolean;
}

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
    id: 'issue 21 finding: a Transfer-Encoding not ending in chunked is refused only after the head went to the server',
    what: "Transfer-Encoding: identity (or any coding but chunked last): llhttp says HPE_INVALID_TRANSFER_ENCODING when the body starts, after the head was forwarded; the client gets 400, the server is charged (SH), and where the body has no 'error' listener yet (sync taps, api-key, rate-limit) the process exits",
    matches: (c) => anyRequest(c, (r) => codings(r).length > 0 && codings(r).at(-1) !== 'chunked'),
  },
  {
    id: 'issue 21 defect 4',
    what: 'a request line without a version (HTTP/0.9) is not refused: alone it waits for the header timeout, followed by fields it is proxied as HTTP/0.9',
    matches: (c) => anyRequest(c, (r) => r.version === null),
  },
  {
    id: 'issue 21 defect 5',
    what: 'a request line with a version other than 1.0 or 1.1 (GET / HTTP/2.0) is proxied',
    matches: (c) => anyRequest(c, (r) => r.version !== null && /^HTTP\/\d\.\d$/.test(r.version) && r.version !== 'HTTP/1.1' && r.version !== 'HTTP/1.0'),
  },
  {
    id: 'issue 21 defect 2',
    what: 'a client that leaves during its request body is charged to the server (502, termination SH)',
    matches: (c) => c.pipeline.requests.some((r) => {
      const w = write(r);
      return !w.headReject && !r.cutHead && announcesBody(r) && !w.complete;
    }),
  },
  {
    id: 'issue 21 defect 6',
    what: 'an absolute-form target without a host (http:///x) is forwarded',
    matches: (c) => anyRequest(c, (r) => /^http:\/\/\//i.test(r.target)),
  },
  {
    id: 'issue 21 finding: an absolute-form target does not set Host',
    what: 'GET http://a.example:8080/ with Host: example.com reaches the server with Host: example.com; RFC 9112 3.2.2 wants the target\'s authority',
    matches: (c) => anyRequest(c, (r) => {
      const authority = /^https?:\/\/([^/?#]*)/i.exec(r.target)?.[1];
      const host = r.headers.find((h) => h.name.toLowerCase() === 'host')?.value.trim();
      return authority !== undefined && authority.toLowerCase() !== host?.toLowerCase();
    }),
  },
  {
    id: 'issue 21 finding: a refusal to HEAD carries a body',
    what: 'the 400 written for an unparsable HEAD request has a 16-byte body, which a client reads as the start of the next response',
    matches: (c) => anyRequest(c, (r) => r.method === 'HEAD' && !plain(r)),
  },
  {
    id: 'issue 21 finding: a refusal with a pipelined request body queued kills the process',
    what: "a parse error while a pipelined request with a body waits its turn: refuse() aborts it, its RequestBody emits 'error' with no listener, the process exits",
    matches: (c) => c.pipeline.requests.length > 1 && c.pipeline.requests.slice(1).some(announcesBody),
  },
];

/** The known defect a case would show, if any. */
export function knownDefectOf(c: H1Case): KnownDefect | undefined {
  return knownDefects.find((d) => d.matches(c));
}
