// Fuzz: WebSocket upgrades, valid and not, and what follows them through the tunnel.
// An upgrade the origin accepts gets 101; any other gets a 4xx (or a close), never a
// 5xx; no server is charged, and the gateway goes on serving.
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { acceptable, upgrade, upgradeBytes, type UpgradeSpec } from './arbitraries/websocket.ts';
import { startBench, type FuzzBench } from './harness/bench.ts';
import type { HttpFrontend } from './harness/configs.ts';
import { exchange, parseResponses, showBytes } from './harness/exchange.ts';
import { CaseFailure, fuzz } from './harness/property.ts';

interface WsCase {
  fe: HttpFrontend;
  spec: UpgradeSpec;
  finish: 'end' | 'hold';
}

const show = ({ fe, spec, finish }: WsCase) =>
  [
    `frontend ${fe.name} (${fe.about})${fe.tls ? ', over TLS' : ''}`,
    `upgrade: ${JSON.stringify(spec)}`,
    `bytes: ${showBytes(upgradeBytes(spec))}`,
    `then ${finish === 'end' ? 'half-closed' : 'held open'}`,
    acceptable(spec) ? 'an upgrade the origin accepts' : 'an upgrade the origin refuses',
  ].join('\n');

async function runWsCase(bench: FuzzBench, { fe, spec, finish }: WsCase): Promise<void> {
  const before = await bench.before();
  const result = await exchange({ port: fe.port, tls: fe.tls ? { alpn: ['http/1.1'] } : undefined }, [upgradeBytes(spec)], {
    finish,
    quietMs: (r) => (r.length === 0 ? 2500 : 300),
    maxMs: 6000,
  });
  const problems: string[] = [];
  const { responses } = parseResponses(result.received, [spec.method === 'HEAD']);
  for (const r of responses) if (r.status >= 500) problems.push(`answered ${r.status}: ${JSON.stringify(r.head.split('\r\n')[0])}`);
  if (acceptable(spec) && responses[0]?.status !== 101) problems.push(`a valid upgrade got ${responses[0]?.status ?? 'no answer'} instead of 101`);
  if (!acceptable(spec) && responses[0]?.status === 101) problems.push('an upgrade the origin refuses got 101');
  problems.push(...(await bench.after(before, fe, 'http')));
  if (problems.length)
    throw new CaseFailure(problems, [
      `client: ${result.closed ? 'closed by the gateway' : result.gaveUp} after ${result.ms} ms; received ${showBytes(result.received, 600)}`,
      ...bench.logSince(before),
    ]);
}

describe('WebSocket upgrades under fuzz', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  for (const name of ['plain', 'async-taps', 'cache', 'tls']) {
    it(`${name}: upgrades valid and not get 101 or a 4xx, and what follows them charges no server`, async () => {
      const fe = bench.setup.http.find((f) => f.name === name)!;
      const cases = fc.record({ spec: upgrade, finish: fc.constantFrom('end' as const, 'hold' as const) }).map(({ spec, finish }) => ({ fe, spec, finish }));
      await fuzz(`${name}: WebSocket upgrades`, cases, (c) => runWsCase(bench, c), { runs: 8, show });
    });
  }
});
