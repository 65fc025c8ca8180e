// `npm run fuzz`: every fuzz property for FUZZ_SECONDS each (15 unless set: about ten
// minutes in all), the test runner's output as it comes, then the cases each property ran.
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => relative(process.cwd(), join(here, f)));
const env = { ...process.env, FUZZ_SECONDS: process.env.FUZZ_SECONDS || '15' };
const child = spawn(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=1', ...files], { env, stdio: ['ignore', 'pipe', 'inherit'] });

const ran: { name: string; cases: number; seconds: number; note: string }[] = [];
createInterface({ input: child.stdout! }).on('line', (line) => {
  process.stdout.write(line + '\n');
  const m = /# fuzz: (.+): (\d+) cases in ([\d.]+) s(.*?), seed/.exec(line);
  if (m) ran.push({ name: m[1]!, cases: Number(m[2]), seconds: Number(m[3]), note: m[4]!.trim() });
});

child.on('exit', (code) => {
  const width = Math.max(...ran.map((r) => r.name.length), 8);
  console.log(`\nfuzz: ${ran.length} properties, FUZZ_SECONDS=${env.FUZZ_SECONDS}`);
  for (const r of ran) console.log(`  ${r.name.padEnd(width)}  ${String(r.cases).padStart(6)} cases  ${r.seconds.toFixed(1).padStart(6)} s  ${r.note}`);
  console.log(
    `  ${'total'.padEnd(width)}  ${String(ran.reduce((n, r) => n + r.cases, 0)).padStart(6)} cases  ${ran
      .reduce((n, r) => n + r.seconds, 0)
      .toFixed(1)
      .padStart(6)} s`,
  );
  process.exitCode = code ?? 1;
});
