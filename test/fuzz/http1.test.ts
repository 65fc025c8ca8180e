// Fuzz: malformed and adversarial HTTP/1 requests against every HTTP configuration of a
// real gateway process. A request gets a 4xx (408, 431), a 505 or a close, never a 5xx;
// one the gateway must refuse never reaches the origin; no server is charged; the process
// lives on, logs no error, and serves a normal request right after.
import { after, before, describe, it } from 'node:test';

import { pipeline } from './arbitraries/http1.ts';
import { startBench, type FuzzBench } from './harness/bench.ts';
import { runH1Case, showH1Case } from './harness/h1-case.ts';
import { fuzz } from './harness/property.ts';

describe('HTTP/1 requests under fuzz, one gateway process serving every configuration', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  // One test per configuration (not only its frontend drawn at random), so that a failure names it.
  for (const name of [
    'plain',
    'sync-taps',
    'async-taps',
    'cache',
    'rewrite',
    'redirect-respond',
    'jwt',
    'api-key',
    'basic-auth',
    'auth-request',
    'rate-limit',
    'sticky-cookie',
    'tls',
    'h2c',
  ]) {
    it(`${name}: malformed HTTP/1 requests get a 4xx or a close, reach no server when refused, and leave the gateway serving`, async () => {
      const fe = bench.setup.http.find((f) => f.name === name)!;
      const cases = pipeline.map((p) => ({ fe, pipeline: p }));
      await fuzz(`${name}: malformed HTTP/1 requests`, cases, (c) => runH1Case(bench, c), { runs: 8, show: showH1Case });
    });
  }
});

describe('HTTP/1 requests under fuzz, a master with two workers', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('master')));
  after(() => bench?.close());

  for (const name of ['workers-plain', 'workers-async-taps']) {
    it(`${name}: malformed HTTP/1 requests leave both workers alive and serving`, async () => {
      const fe = bench.setup.http.find((f) => f.name === name)!;
      const cases = pipeline.map((p) => ({ fe, pipeline: p }));
      await fuzz(`${name}: malformed HTTP/1 requests`, cases, (c) => runH1Case(bench, c), { runs: 8, show: showH1Case });
    });
  }
});
