// Runs a fuzz property with fast-check, sized for CI by default and for a long run by
// environment: FUZZ_RUNS (cases per property), FUZZ_SECONDS (time per property, then
// stop without failing), FUZZ_SEED and FUZZ_PATH (replay one failure). A failure reports
// its seed, its shrunk case as raw bytes, and what the bench saw; every property prints
// how many cases it ran (test/fuzz/run.ts gathers those lines into a table).
import fc from 'fast-check';

export interface FuzzOptions<T> {
  /** Cases in a CI run (no FUZZ_RUNS / FUZZ_SECONDS). */
  runs: number;
  /** How a case reads in a report: the raw bytes, the frontend. */
  show(value: T): string;
}

/** What a failing case throws: its problems, and what the gateway logged meanwhile. */
export class CaseFailure extends Error {
  constructor(
    readonly problems: string[],
    readonly log: string[],
  ) {
    super(problems.join('\n'));
  }
}

const env = (name: string) => {
  const v = process.env[name];
  return v === undefined || v === '' ? undefined : Number(v);
};

/** Checks `check` on values of `arb`; throws a readable report on failure. */
export async function fuzz<T>(name: string, arb: fc.Arbitrary<T>, check: (value: T) => Promise<void>, options: FuzzOptions<T>): Promise<void> {
  const seconds = env('FUZZ_SECONDS');
  const runs = env('FUZZ_RUNS') ?? (seconds ? 1_000_000 : options.runs);
  const seed = env('FUZZ_SEED');
  const path = process.env.FUZZ_PATH || undefined;
  let cases = 0;
  const started = performance.now();
  // fast-check's time limit resolves without waiting for the case under way: wait for it here,
  // or it would still be running (and charging the bench) when the next property starts.
  let running: Promise<void> | undefined;
  const property = fc.asyncProperty(arb, async (value) => {
    cases++;
    running = check(value);
    await running;
  });
  const details = await fc.check(property, {
    numRuns: runs,
    seed,
    path,
    // A long run stops at its time; a CI run that finds a failure shrinks it for at most about 20 s.
    interruptAfterTimeLimit: (seconds ?? 20 + runs) * 1000,
    markInterruptAsFailure: false,
    endOnFailure: process.env.FUZZ_NO_SHRINK === '1',
  });
  await running?.catch(() => undefined);
  const took = (performance.now() - started) / 1000;
  console.log(`# fuzz: ${name}: ${cases} cases in ${took.toFixed(1)} s${details.interrupted ? ' (time limit)' : ''}, seed ${details.seed}`);
  if (!details.failed) return;
  const error = details.errorInstance;
  const lines = [
    `fuzz property failed: ${name}`,
    `seed ${details.seed}, path ${JSON.stringify(details.counterexamplePath)} after ${details.numRuns} cases and ${details.numShrinks} shrinks`,
    `replay: FUZZ_SEED=${details.seed} FUZZ_PATH='${details.counterexamplePath}' node --import tsx --test --test-name-pattern='${name.replace(/'/g, '.')}' test/fuzz/*.test.ts`,
    '',
    'the case:',
    details.counterexample ? options.show(details.counterexample[0] as T) : '(none)',
    '',
    'what went wrong:',
    ...(error instanceof CaseFailure ? error.problems : [String((error as Error | undefined)?.stack ?? error)]).map((p) => `  ${p}`),
  ];
  if (error instanceof CaseFailure && error.log.length) lines.push('', 'what the gateway logged meanwhile:', ...error.log.map((l) => `  ${l.slice(0, 400)}`));
  throw new Error(lines.join('\n'));
}
