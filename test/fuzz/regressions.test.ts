// Fuzz: each known defect's own property, on connections of its shape, todo until its
// fix lands (then its entry in known-defects.ts goes, and the main properties cover it).
// Each one failing now is the check that the properties can fail: it is what they caught.
import { after, before, describe, it } from 'node:test';
import { startBench, type FuzzBench } from './harness/bench.ts';
import { runH1Case, showH1Case } from './harness/h1-case.ts';
import { fuzz } from './harness/property.ts';
import { knownDefects } from './known-defects.ts';

describe('known defects, each on inputs of its shape', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  for (const defect of knownDefects) {
    it(`${defect.frontend}: ${defect.what}`, { todo: defect.id }, async () => {
      const fe = bench.setup.http.find((f) => f.name === defect.frontend)!;
      await fuzz(`${defect.frontend}: ${defect.id}`, defect.examples.map((pipeline) => ({ fe, pipeline })), (c) => runH1Case(bench, c, true), { runs: defect.runs ?? 3, show: showH1Case, expectFailure: true });
    });
  }
});
