// One tcp-mode fuzz case: a connection's first bytes to a frontend that inspects them
// (TLS, HTTP, h2c and SSH detectors; HTTP and h2c handed to HTTP frontends, the rest to
// an echo server). Whatever the bytes, an HTTP answer is never a 5xx, and the bench's
// checks hold: no server charged, the process alive and quiet, a normal connection served.
import { openingBytes, type TcpCaseSpec } from '../arbitraries/tcp.ts';
import type { FuzzBench } from './bench.ts';
import type { TcpFrontend } from './configs.ts';
import { exchange, parseResponses, showBytes, splitAt } from './exchange.ts';
import { CaseFailure } from './property.ts';

export interface TcpCase {
  fe: TcpFrontend;
  spec: TcpCaseSpec;
}

export function showTcpCase({ fe, spec }: TcpCase): string {
  const bytes = openingBytes(spec.opening);
  return [
    `frontend ${fe.name} (${fe.about})`,
    `opening: ${JSON.stringify(spec.opening)}`,
    `bytes: ${showBytes(bytes, 1500)}`,
    `written in ${splitAt(bytes, spec.cuts).length} write(s), then ${spec.finish === 'end' ? 'half-closed' : 'held open'}`,
  ].join('\n');
}

export async function runTcpCase(bench: FuzzBench, { fe, spec }: TcpCase): Promise<void> {
  const bytes = openingBytes(spec.opening);
  const before = await bench.before();
  // The inspection delay is 300 ms: a silence of 400 ms is past any routing decision.
  const result = await exchange({ port: fe.port }, splitAt(bytes, spec.cuts), { finish: spec.finish, quietMs: 400, maxMs: 5000 });
  const problems: string[] = [];
  if (result.received.subarray(0, 7).toString('latin1') === 'HTTP/1.') {
    for (const r of parseResponses(result.received).responses) {
      if (r.status >= 500 && r.status !== 505 && r.status !== 501) problems.push(`the handed-over HTTP frontend answered ${r.status}`);
    }
  }
  problems.push(...(await bench.after(before, fe, 'tcp')));
  if (problems.length)
    throw new CaseFailure(problems, [
      `client: ${result.closed ? 'closed by the gateway' : result.gaveUp} after ${result.ms} ms; received ${showBytes(result.received, 400)}`,
      ...bench.logSince(before),
    ]);
}
