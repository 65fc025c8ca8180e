// Cache benchmark: req/s of a cached response (HIT) next to the same response through
// the gateway without the cache plugin, through the cache on its miss path (no-store),
// and straight from the origin. wrk is the load; the gateway (one in-process worker) is
// pinned to core 1, the origin and wrk to core 0 when taskset exists.
//   node --import tsx bench/cache.ts            → bench/results/cache.md
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 node --import tsx bench/cache.ts
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  connections,
  formatRps,
  freePort,
  gatewayConfig,
  machine,
  measure,
  median,
  onCore,
  pinning,
  rounds,
  seconds,
  serveOrigin,
  startGateway,
  startOrigin,
  stop,
  timestamp,
  writeResultsFile,
  type Results,
} from './harness.ts';

if (process.argv[2] === 'origin') {
  // Child: the origin. /cached may be stored, /uncached may not.
  serveOrigin((url) => ({ 'cache-control': url === '/cached' ? 'max-age=3600' : 'no-store' }));
} else {
  await main();
}

async function main(): Promise<void> {
  const pin = pinning();
  const { origin, originPort } = await startOrigin(import.meta.url, pin);
  const dir = mkdtempSync(join(os.tmpdir(), 'tapgate-cache-bench-'));
  const results: Results = {};
  try {
    const scenarios: [string, string, boolean][] = [
      ['direct (origin, no gateway)', 'direct', false],
      ['gateway, no cache plugin', '/cached', false],
      ['gateway + cache, miss path (no-store)', '/uncached', true],
      ['gateway + cache, HIT', '/cached', true],
    ];
    for (let round = 0; round < rounds; round++) {
      for (const [name, path, withCache] of scenarios) {
        let url: string;
        let gateway: ChildProcess | undefined;
        if (path === 'direct') url = `http://127.0.0.1:${originPort}/cached`;
        else {
          const port = await freePort();
          const file = join(dir, `gw-${port}.yaml`);
          writeFileSync(file, gatewayConfig(port, originPort, 0, withCache ? '{ use: cache, options: { max_size: 64m } }' : undefined));
          gateway = await startGateway(file, onCore(pin, 1));
          url = `http://127.0.0.1:${port}${path}`;
        }
        await measure(results, name, url); // the warm-up also makes the first, storing request
        if (gateway) await stop(gateway);
      }
    }
  } finally {
    await stop(origin);
    rmSync(dir, { recursive: true, force: true });
  }
  writeResults(results, pin);
}

function writeResults(results: Results, pinned: boolean): void {
  const direct = median(results['direct (origin, no gateway)']!);
  const plain = median(results['gateway, no cache plugin']!);
  const rows = Object.entries(results).map(([name, xs]) => {
    const m = median(xs);
    return `| ${name} | ${formatRps(m)} | ${(m / plain).toFixed(2)} | ${(m / direct).toFixed(2)} | ${xs.map(formatRps).join(', ')} |`;
  });
  const text = `# Cache benchmark

\`node --import tsx bench/cache.ts\` (${timestamp()} UTC). A 1 KiB response, wrk -t1 -c${connections} -d${seconds}s with keep-alive,
median of ${rounds} rounds, each gateway started afresh with a 1 s warm-up (which also stores the response).
tapgate runs one in-process worker${pinned ? ' pinned to core 1; the origin (node:http) and wrk share core 0' : ' (not pinned: taskset missing or one core)'}.
${machine()}

| scenario | req/s (median) | × gateway without cache | × direct | every round |
| --- | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
  writeResultsFile('cache', text);
}
