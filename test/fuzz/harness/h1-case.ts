// One HTTP/1 fuzz case: a connection's worth of requests to a frontend, judged by what
// the client got back and what reached the origin, then by the bench's checks.
import type { Pipeline } from '../arbitraries/http1.ts';
import { write, type Written } from '../arbitraries/http1.ts';
import type { FuzzBench } from './bench.ts';
import type { HttpFrontend } from './configs.ts';
import { exchange, parseResponses, showBytes, splitAt, type Exchanged, type ParsedResponses } from './exchange.ts';
import { CaseFailure } from './property.ts';

/** Statuses a malformed request may get: any 4xx, 505 (version), 501 (a transfer coding not understood). */
const refusal = (s: number) => (s >= 400 && s < 500) || s === 505 || s === 501;

export interface H1Case {
  fe: HttpFrontend;
  pipeline: Pipeline;
}

export function showH1Case({ fe, pipeline }: H1Case): string {
  const bytes = Buffer.concat(pipeline.requests.map((r) => write(r).bytes));
  return [
    `frontend ${fe.name} (${fe.about})${fe.tls ? ', over TLS' : ''}`,
    `bytes: ${showBytes(bytes, 2000)}`,
    `written in ${splitAt(bytes, pipeline.delivery.cuts).length} write(s), then ${pipeline.delivery.finish === 'end' ? 'half-closed' : 'held open'}`,
    ...pipeline.requests.map((r, i) => {
      const w = write(r);
      const body = w.bodyBroken ? `; its body breaks its framing (${w.bodyBroken})` : '';
      return `request ${i + 1}: ${w.headReject ? `must be refused (${w.headReject})` : w.bodyBroken ? 'head valid' : w.complete ? 'whole and valid' : 'cut short'}${body}`;
    }),
    `spec: ${JSON.stringify(pipeline.requests)}`,
  ].join('\n');
}

/** The first request alone decides what the connection must see; those behind it are judged only when it is clean. */
function expectsAnswer(w: Written, cut: boolean): boolean {
  return !cut && (w.headReject !== undefined || w.complete);
}

export async function runH1Case(bench: FuzzBench, { fe, pipeline }: H1Case): Promise<void> {
  const written = pipeline.requests.map((r) => write(r));
  const bytes = Buffer.concat(written.map((w) => w.bytes));
  const heads = pipeline.requests.map((r) => r.method === 'HEAD');
  const first = written[0]!;
  const firstAnswered = expectsAnswer(first, pipeline.requests[0]!.cutHead);
  const before = await bench.before();
  const finals = (p: ParsedResponses) => p.responses.filter((r) => r.status >= 200 || r.status === 101).length;
  const result = await exchange({ port: fe.port, tls: fe.tls ? { alpn: ['http/1.1'] } : undefined }, splitAt(bytes, pipeline.delivery.cuts), {
    finish: pipeline.delivery.finish,
    // A whole request is answered at once (waited for up to 2.5 s, in case the machine is busy); a cut one
    // may only wait (a short look for an early refusal); once answers flow, a short silence ends the case.
    quietMs: (received) => (firstAnswered && received.length === 0 ? 2500 : 300),
    maxMs: 6000,
    enough: (received) => {
      const p = parseResponses(received, heads);
      return p.lastWhole && (finals(p) >= written.length || p.responses.some((r) => r.status === 101));
    },
  });
  const problems = judge(written, pipeline, result, bench.origin.seen.length - before.seen, bench.origin.seen.slice(before.seen), firstAnswered, heads);
  problems.push(...(await bench.after(before, fe, 'http')));
  if (problems.length)
    throw new CaseFailure(problems, [
      `client: ${result.closed ? 'closed by the gateway' : result.gaveUp} after ${result.ms} ms; received ${showBytes(result.received, 800)}`,
      ...bench.logSince(before),
    ]);
}

function judge(
  written: Written[],
  pipeline: Pipeline,
  result: Exchanged,
  reachedOrigin: number,
  seen: { url: string; headers: Record<string, unknown> }[],
  firstAnswered: boolean,
  heads: boolean[],
): string[] {
  const problems: string[] = [];
  const parsed = parseResponses(result.received, heads);
  const upgrade = written.some((w) => w.upgrade);
  if (parsed.garbage && !parsed.responses.some((r) => r.status === 101))
    problems.push(`the gateway sent something that is not an HTTP/1 response: ${parsed.garbage}`);
  for (const r of parsed.responses) {
    if (r.status >= 500 && !refusal(r.status)) problems.push(`answered ${r.status}: ${JSON.stringify(r.head.split('\r\n')[0])}`);
    if (r.status === 101 && !upgrade) problems.push('answered 101 to a request that asked for no upgrade');
  }
  const finals = parsed.responses.filter((r) => r.status >= 200 || r.status === 101);
  // The first request the gateway must refuse, when every request before it is clean (so answers line up with requests).
  const rejectAt = written.findIndex((w) => w.headReject !== undefined);
  const clean = rejectAt >= 0 && written.slice(0, rejectAt).every((w) => w.complete && !w.overflow && !w.upgrade);
  if (rejectAt >= 0 && clean) {
    if (reachedOrigin > rejectAt)
      problems.push(
        `request ${rejectAt + 1} must be refused (${written[rejectAt]!.headReject}) but reached the origin (${reachedOrigin} request(s) arrived): ${JSON.stringify(seen.at(-1)?.url)}`,
      );
    const answer = finals[rejectAt];
    if (answer && !refusal(answer.status))
      problems.push(`request ${rejectAt + 1} must be refused (${written[rejectAt]!.headReject}) but was answered ${answer.status}`);
  }
  if (firstAnswered) {
    if (finals.length === 0 && !result.closed && pipeline.delivery.finish === 'hold')
      problems.push(
        `request 1 is whole (${written[0]!.headReject ? `and must be refused: ${written[0]!.headReject}` : 'and valid'}) but got no answer and no close in ${result.ms} ms`,
      );
    if (finals[0]?.status === 408) problems.push('request 1 is whole but got 408: the gateway waited for more of it');
  }
  if (pipeline.delivery.finish === 'end' && !result.closed) problems.push(`the connection was still open ${result.ms} ms after the client half-closed`);
  // An absolute-form target names the host: the origin must get that host, never the client's Host field (RFC 9112 3.2.2).
  const target = pipeline.requests[0]!.target;
  const authority = /^http:\/\/([^/?#]+)/i.exec(target)?.[1];
  // (Only for a lone request with nothing past its body: bytes there are a request of their own, which the origin may see instead.)
  if (
    authority &&
    !authority.includes('@') &&
    pipeline.requests.length === 1 &&
    !written[0]!.overflow &&
    seen.length === 1 &&
    String(seen[0]!.headers.host).toLowerCase() !== authority.toLowerCase()
  ) {
    problems.push(`the absolute-form target ${JSON.stringify(target)} reached the origin with Host ${JSON.stringify(seen[0]!.headers.host)}`);
  }
  return problems;
}
