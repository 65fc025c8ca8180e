// Fuzz: a tcp frontend's first bytes (TLS ClientHellos whole, fragmented and lying, SSH
// banners, HTTP cut anywhere, the h2c preface, PROXY headers, noise) against its
// detectors and the HTTP frontends it hands connections to. No 5xx, no server charged,
// the process alive and quiet, and a normal connection served right after.
import { after, before, describe, it } from 'node:test';
import { tcpCase } from './arbitraries/tcp.ts';
import { startBench, type FuzzBench } from './harness/bench.ts';
import { fuzz } from './harness/property.ts';
import { runTcpCase, showTcpCase } from './harness/tcp-case.ts';

describe('tcp-mode inspection under fuzz', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  it('edge: random first bytes are routed or closed, never crash a detector, and charge no server', async () => {
    const fe = bench.setup.tcp.find((f) => f.name === 'edge')!;
    const cases = tcpCase.map((spec) => ({ fe, spec }));
    await fuzz('edge: tcp inspection input', cases, (c) => runTcpCase(bench, c), { runs: 14, show: showTcpCase });
  });
});
