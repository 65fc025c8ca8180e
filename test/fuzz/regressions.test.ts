// Fuzz: each regression's own property (test/fuzz/regressions.ts), on many connections of
// the shape that showed one of issue 21's defects, or a finding of this suite.
import { after, before, describe, it } from 'node:test';
import { startBench, type FuzzBench } from './harness/bench.ts';
import { runH1Case, showH1Case } from './harness/h1-case.ts';
import { fuzz } from './harness/property.ts';
import { regressions } from './regressions.ts';

describe('regressions, each on inputs of its shape', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  for (const r of regressions) {
    it(`${r.frontend}: ${r.what} (${r.id})`, async () => {
      const fe = bench.setup.http.find((f) => f.name === r.frontend)!;
      await fuzz(
        `${r.frontend}: ${r.what}`,
        r.examples.map((pipeline) => ({ fe, pipeline })),
        (c) => runH1Case(bench, c),
        { runs: r.runs ?? 3, show: showH1Case },
      );
    });
  }
});
