// Rate-limit benchmark: what the plugin costs per request. req/s through one worker
// (a master and `workers: 1`, so the shared store's answer really crosses to the master)
// without the plugin, and with it on each store: local (this worker's memory), shared
// (api.take, decided by the master) and redis (a redis-server on loopback, when
// installed). The limit is far above what the run sends, so every request passes and
// carries the RateLimit fields. wrk is the load; the worker is pinned to core 1, the
// origin, the master, Redis and wrk to core 0 when taskset exists.
//   node --import tsx bench/rate-limit.ts            → bench/results/rate-limit.md
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 node --import tsx bench/rate-limit.ts
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import {
  addedPerRequest,
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
  startProcess,
  stop,
  timestamp,
  writeResultsFile,
  type Results,
} from './harness.ts';

if (process.argv[2] === 'origin') {
  serveOrigin();
} else {
  await main();
}

async function main(): Promise<void> {
  const pin = pinning();
  const { origin, originPort } = await startOrigin(import.meta.url, pin);
  let redis: ChildProcess | undefined;
  let redisPort = 0;
  if (!spawnSync('redis-server', ['--version']).error) {
    redisPort = await freePort();
    redis = startProcess(
      'redis',
      onCore(pin, 0),
      ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      false,
    );
    await new Promise((r) => setTimeout(r, 300));
  } else console.warn('redis-server not installed: the redis store is left out');
  const dir = mkdtempSync(join(os.tmpdir(), 'tapgate-rate-limit-bench-'));
  const results: Results = {};
  const limit = '{ limit: 1000000000, window: 1h }';
  const scenarios: [string, string | undefined][] = [
    ['no rate-limit plugin', undefined],
    ['rate-limit, store: local', `{ use: rate-limit, options: ${limit.replace('}', ', store: local }')} }`],
    ['rate-limit, store: shared (the master)', `{ use: rate-limit, options: ${limit} }`],
    ...(redis
      ? [
          [
            'rate-limit, store: redis',
            `{ use: rate-limit, options: ${limit.replace('}', `, store: redis, redis: { url: "redis://127.0.0.1:${redisPort}" } }`)} }`,
          ] as [string, string],
        ]
      : []),
  ];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, plugin] of scenarios) {
        const port = await freePort();
        const file = join(dir, `gw-${port}.yaml`);
        writeFileSync(file, gatewayConfig(port, originPort, 1, plugin));
        // The master on core 0, its worker (which inherits the mask) moved to core 1 once up.
        const gateway = await startGateway(file, onCore(pin, 0), { single: false });
        if (pin) pinWorkers(gateway.pid!);
        await measure(results, name, `http://127.0.0.1:${port}/`);
        await stop(gateway);
      }
    }
  } finally {
    await stop(origin);
    if (redis) await stop(redis);
    rmSync(dir, { recursive: true, force: true });
  }
  writeResults(results, pin);
}

/** The master's children (its worker) onto core 1. */
function pinWorkers(master: number): void {
  const children = execFileSync('pgrep', ['-P', String(master)], { encoding: 'utf8' })
    .trim()
    .split('\n')
    .filter(Boolean);
  for (const pid of children) execFileSync('taskset', ['-pc', '1', pid], { stdio: 'ignore' });
}

function writeResults(results: Results, pinned: boolean): void {
  const plain = median(results['no rate-limit plugin']!);
  const rows = Object.entries(results).map(([name, xs]) => {
    const m = median(xs);
    const cost = name === 'no rate-limit plugin' ? '' : addedPerRequest(m, plain);
    return `| ${name} | ${formatRps(m)} | ${(m / plain).toFixed(2)} | ${cost} | ${xs.map(formatRps).join(', ')} |`;
  });
  const text = `# Rate-limit benchmark

\`node --import tsx bench/rate-limit.ts\` (${timestamp()} UTC). A 1 KiB response, wrk -t1 -c${connections} -d${seconds}s with keep-alive,
median of ${rounds} rounds, each gateway (\`tapgate run\`, \`workers: 1\`) started afresh with a 1 s warm-up. Every request passes the limit
(one key: wrk's address) and gets RateLimit-Policy and RateLimit added to the server's response.
${pinned ? 'The worker is pinned to core 1; the origin (node:http), the master, redis-server and wrk share core 0.' : 'Not pinned (taskset missing or one core).'}
${machine()}
"added per request" is 1/req/s with the plugin minus 1/req/s without: the worker's time (it is the bottleneck) per request.

| scenario | req/s (median) | × without the plugin | added per request | every round |
| --- | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
  writeResultsFile('rate-limit', text);
}
