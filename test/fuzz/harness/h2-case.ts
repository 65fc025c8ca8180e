// One HTTP/2 fuzz case: a connection's frames to a frontend that speaks HTTP/2, judged
// by the frames the gateway sent back (no stream reset with INTERNAL_ERROR: the gateway's
// own way of failing a stream), then by the bench's checks (5xx and servers charged are
// read from the stats: the answers' HPACK is not decoded here). A GOAWAY with
// INTERNAL_ERROR is not judged: node sends it for a session it destroys after nghttp2
// reported the client's protocol error, whatever the gateway does.
import { bytesOf, describeConnection, type H2Connection } from '../arbitraries/http2.ts';
import type { FuzzBench } from './bench.ts';
import type { HttpFrontend } from './configs.ts';
import { exchange, showBytes } from './exchange.ts';
import { CaseFailure } from './property.ts';

export interface H2Case {
  fe: HttpFrontend;
  connection: H2Connection;
}

export function showH2Case({ fe, connection }: H2Case): string {
  return [
    `frontend ${fe.name} (${fe.about})${fe.tls ? ', over TLS with ALPN h2' : ''}`,
    `moves: ${describeConnection(connection)}`,
    `bytes: ${showBytes(bytesOf(connection), 1500)}`,
  ].join('\n');
}

const INTERNAL_ERROR = 2;

/** The frames in what the server sent (its preface is a SETTINGS frame), as far as they are whole. */
function serverFrames(data: Buffer): { type: number; stream: number; payload: Buffer }[] {
  const frames = [];
  let at = 0;
  while (at + 9 <= data.length) {
    const length = data.readUIntBE(at, 3);
    if (at + 9 + length > data.length) break;
    frames.push({ type: data[at + 3]!, stream: data.readUInt32BE(at + 5) & 0x7fffffff, payload: data.subarray(at + 9, at + 9 + length) });
    at += 9 + length;
  }
  return frames;
}

export async function runH2Case(bench: FuzzBench, { fe, connection }: H2Case): Promise<void> {
  const bytes = bytesOf(connection);
  const before = await bench.before();
  const result = await exchange({ port: fe.port, tls: fe.tls ? { alpn: ['h2'] } : undefined }, [bytes], { finish: 'hold', quietMs: 300, maxMs: 5000 });
  const problems: string[] = [];
  for (const f of serverFrames(result.received)) {
    if (f.type === 3 && f.payload.length === 4 && f.payload.readUInt32BE(0) === INTERNAL_ERROR)
      problems.push(`the gateway reset stream ${f.stream} with INTERNAL_ERROR`);
  }
  problems.push(...(await bench.after(before, fe, 'h2')));
  if (problems.length)
    throw new CaseFailure(problems, [
      `client: ${result.closed ? 'closed by the gateway' : result.gaveUp} after ${result.ms} ms; received ${showBytes(result.received, 400)}`,
      ...bench.logSince(before),
    ]);
}
