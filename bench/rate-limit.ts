// Rate-limit benchmark: what the plugin costs per request. req/s through one worker
// (a master and `workers: 1`, so the shared store's answer really crosses to the master)
// without the plugin, and with it on each store: local (this worker's memory), shared
// (api.take, decided by the master) and redis (a redis-server on loopback, when
// installed). The limit is far above what the run sends, so every request passes and
// carries the RateLimit fields. wrk is the load; the worker is pinned to core 1, the
// origin, the master, Redis and wrk to core 0 when taskset exists.
//   node --import tsx bench/rate-limit.ts            → bench/results/rate-limit.md
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 node --import tsx bench/rate-limit.ts
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = 50;
const bodySize = 1024;

if (process.argv[2] === 'origin') {
  const body = Buffer.alloc(bodySize, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.argv[3]), '127.0.0.1', () => process.send?.('ready'));
} else {
  await main();
}

async function main(): Promise<void> {
  const pin = hasTaskset();
  const originPort = await freePort();
  const origin = start('origin', pin ? ['taskset', '-c', '0'] : [], [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'origin', String(originPort)], true);
  await ready(origin);
  let redis: ChildProcess | undefined;
  let redisPort = 0;
  if (!spawnSync('redis-server', ['--version']).error) {
    redisPort = await freePort();
    redis = start('redis', pin ? ['taskset', '-c', '0'] : [], ['redis-server', '--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], false);
    await new Promise((r) => setTimeout(r, 300));
  } else console.warn('redis-server not installed: the redis store is left out');
  const dir = mkdtempSync(join(os.tmpdir(), 'tapgate-rate-limit-bench-'));
  const results: Record<string, number[]> = {};
  const limit = '{ limit: 1000000000, window: 1h }';
  const scenarios: [string, string | undefined][] = [
    ['no rate-limit plugin', undefined],
    ['rate-limit, store: local', `{ use: rate-limit, options: ${limit.replace('}', ', store: local }')} }`],
    ['rate-limit, store: shared (the master)', `{ use: rate-limit, options: ${limit} }`],
    ...(redis ? [['rate-limit, store: redis', `{ use: rate-limit, options: ${limit.replace('}', `, store: redis, redis: { url: "redis://127.0.0.1:${redisPort}" } }`)} }`] as [string, string]] : []),
  ];
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, plugin] of scenarios) {
        const port = await freePort();
        const file = join(dir, `gw-${port}.yaml`);
        writeFileSync(file, config(port, originPort, plugin));
        // The master on core 0, its worker (which inherits the mask) moved to core 1 once up.
        const gateway = start('gateway', pin ? ['taskset', '-c', '0'] : [], [process.execPath, join(root, 'bin/tapgate.mjs'), 'run', '-c', file], false);
        await serving(gateway);
        if (pin) pinWorkers(gateway.pid!);
        const url = `http://127.0.0.1:${port}/`;
        await wrk(url, 1); // warm-up
        const rps = await wrk(url, seconds);
        (results[name] ??= []).push(rps);
        console.log(`${name}: ${Math.round(rps)} req/s`);
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

function config(port: number, originPort: number, plugin: string | undefined): string {
  return [
    'workers: 1',
    'log: { level: info, access: false }',
    'frontends:',
    '  bench:',
    `    bind: 127.0.0.1:${port}`,
    '    default_backend: origin',
    '    forwarded: { xff: false, proto_host: false }',
    ...(plugin ? [`    plugins: [${plugin}]`] : []),
    'backends:',
    '  origin:',
    `    servers: [{ name: o, address: "127.0.0.1:${originPort}" }]`,
    '',
  ].join('\n');
}

/** The master's children (its worker) onto core 1. */
function pinWorkers(master: number): void {
  const children = execFileSync('pgrep', ['-P', String(master)], { encoding: 'utf8' }).trim().split('\n').filter(Boolean);
  for (const pid of children) execFileSync('taskset', ['-pc', '1', pid], { stdio: 'ignore' });
}

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return os.cpus().length >= 2;
  } catch {
    return false;
  }
}

function start(name: string, prefix: string[], command: string[], ipc: boolean): ChildProcess {
  const [file, ...args] = [...prefix, ...command];
  const child = spawn(file!, args, { cwd: root, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'ignore', 'pipe'] });
  child.once('exit', (code, signal) => {
    if (code && signal === null) console.error(`${name} exited with ${code}`);
  });
  return child;
}

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', () => reject(new Error('origin exited before it was ready')));
  });
}

/** Resolves when the gateway logs that it serves. */
function serving(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (d: Buffer) => {
      seen += d;
      if (seen.includes('tapgate serving')) resolve();
    });
    child.once('exit', () => reject(new Error(`gateway exited:\n${seen}`)));
  });
}

function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

function wrk(url: string, duration: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${duration}s`, url];
    const child = spawn(hasTaskset() ? 'taskset' : 'wrk', hasTaskset() ? ['-c', '0', 'wrk', ...args] : args);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (!m) return reject(new Error(`wrk said:\n${out}`));
      if (/Non-2xx/.test(out) || /Socket errors/.test(out)) console.warn(out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).join('\n'));
      resolve(Number(m[1]));
    });
  });
}

function writeResults(results: Record<string, number[]>, pinned: boolean): void {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const plain = median(results['no rate-limit plugin']!);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const rows = Object.entries(results).map(([name, xs]) => {
    const m = median(xs);
    const cost = name === 'no rate-limit plugin' ? '' : `${((1 / m - 1 / plain) * 1e6).toFixed(0)} µs`;
    return `| ${name} | ${fmt(m)} | ${(m / plain).toFixed(2)} | ${cost} | ${xs.map(fmt).join(', ')} |`;
  });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const text = `# Rate-limit benchmark

\`node --import tsx bench/rate-limit.ts\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC). A 1 KiB response, wrk -t1 -c${connections} -d${seconds}s with keep-alive,
median of ${rounds} rounds, each gateway (\`tapgate run\`, \`workers: 1\`) started afresh with a 1 s warm-up. Every request passes the limit
(one key: wrk's address) and gets RateLimit-Policy and RateLimit added to the server's response.
${pinned ? 'The worker is pinned to core 1; the origin (node:http), the master, redis-server and wrk share core 0.' : 'Not pinned (taskset missing or one core).'}
${cpu}, ${os.cpus().length} cores, Node ${process.version}. A shared, noisy machine: read the ratios, not the digits.
"added per request" is 1/req/s with the plugin minus 1/req/s without: the worker's time (it is the bottleneck) per request.

| scenario | req/s (median) | × without the plugin | added per request | every round |
| --- | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/rate-limit.md'), text);
  console.log(text);
}
