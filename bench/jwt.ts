// JWT benchmark: req/s through the gateway without the jwt plugin and with it verifying
// an RS256, ES256 or EdDSA bearer token on every request (one worker), next to the
// origin alone. The gateway is pinned to core 1, the origin and wrk to core 0 when
// taskset exists. Keys and tokens are made at start with jose.
//   node --import tsx bench/jwt.ts            → bench/results/jwt.md
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 node --import tsx bench/jwt.ts
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';

const root = fileURLToPath(new URL('..', import.meta.url));
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const connections = 50;
const bodySize = 1024;
const algorithms = ['RS256', 'ES256', 'EdDSA'] as const;

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
  const dir = mkdtempSync(join(os.tmpdir(), 'tapgate-jwt-bench-'));
  const tokens: Record<string, string> = {};
  for (const alg of algorithms) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    writeFileSync(join(dir, `${alg}.pem`), await exportSPKI(publicKey));
    tokens[alg] = await new SignJWT({ sub: 'bench', scope: 'read', iss: 'https://id.example.com', aud: 'bench' })
      .setProtectedHeader({ alg, kid: alg })
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
  }
  const originPort = await freePort();
  const origin = start('origin', pin ? ['taskset', '-c', '0'] : [], [process.execPath, '--import', 'tsx', fileURLToPath(import.meta.url), 'origin', String(originPort)], true);
  await ready(origin);
  const results: Record<string, number[]> = {};
  try {
    const scenarios: [string, (typeof algorithms)[number] | 'none' | 'direct'][] = [
      ['direct (origin, no gateway)', 'direct'],
      ['gateway, no jwt plugin', 'none'],
      ...algorithms.map((alg): [string, (typeof algorithms)[number]] => [`gateway + jwt, ${alg} token`, alg]),
    ];
    for (let round = 0; round < rounds; round++) {
      for (const [name, alg] of scenarios) {
        let url = `http://127.0.0.1:${originPort}/`;
        let gateway: ChildProcess | undefined;
        if (alg !== 'direct') {
          const port = await freePort();
          const file = join(dir, `gw-${port}.yaml`);
          writeFileSync(file, config(port, originPort, alg === 'none' ? undefined : alg));
          gateway = start('gateway', pin ? ['taskset', '-c', '1'] : [], [process.execPath, join(root, 'bin/tapgate.mjs'), 'run', '--single', '-c', file], false);
          await serving(gateway);
          url = `http://127.0.0.1:${port}/`;
        }
        const headers = alg === 'direct' || alg === 'none' ? [] : [`Authorization: Bearer ${tokens[alg]}`];
        await wrk(url, 1, headers); // warm-up
        const rps = await wrk(url, seconds, headers);
        (results[name] ??= []).push(rps);
        console.log(`${name}: ${Math.round(rps)} req/s`);
        if (gateway) await stop(gateway);
      }
    }
  } finally {
    await stop(origin);
    rmSync(dir, { recursive: true, force: true });
  }
  writeResults(results, pin);
}

function config(port: number, originPort: number, alg: string | undefined): string {
  const jwt = `    plugins: [{ use: jwt, options: { keys: [{ file: ${alg}.pem, kid: ${alg} }], issuer: "https://id.example.com", audience: bench } }]`;
  return [
    'workers: 0',
    'log: { level: info, access: false }',
    'frontends:',
    '  bench:',
    `    bind: 127.0.0.1:${port}`,
    '    default_backend: origin',
    '    forwarded: { xff: false, proto_host: false }',
    ...(alg ? [jwt] : []),
    'backends:',
    '  origin:',
    `    servers: [{ name: o, address: "127.0.0.1:${originPort}" }]`,
    '',
  ].join('\n');
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

function wrk(url: string, duration: number, headers: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${duration}s`, ...headers.flatMap((h) => ['-H', h]), url];
    const child = spawn(hasTaskset() ? 'taskset' : 'wrk', hasTaskset() ? ['-c', '0', 'wrk', ...args] : args);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (!m) return reject(new Error(`wrk said:\n${out}`));
      // A refused token would be a 401: fast, and wrong. Say so loudly.
      if (/Non-2xx/.test(out) || /Socket errors/.test(out)) console.warn(out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).join('\n'));
      resolve(Number(m[1]));
    });
  });
}

function writeResults(results: Record<string, number[]>, pinned: boolean): void {
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const direct = median(results['direct (origin, no gateway)']!);
  const plain = median(results['gateway, no jwt plugin']!);
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  const rows = Object.entries(results).map(([name, xs]) => {
    const m = median(xs);
    // CPU per request added by the plugin, from the one core the gateway has: 1/with − 1/without.
    const cost = name.startsWith('gateway + jwt') ? `${((1 / m - 1 / plain) * 1e6).toFixed(0)} µs` : '';
    return `| ${name} | ${fmt(m)} | ${(m / plain).toFixed(2)} | ${cost} | ${(m / direct).toFixed(2)} | ${xs.map(fmt).join(', ')} |`;
  });
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  const text = `# JWT benchmark

\`node --import tsx bench/jwt.ts\` (${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC). A 1 KiB response, wrk -t1 -c${connections} -d${seconds}s with keep-alive,
every request carrying the same valid bearer token (signature, exp, iss and aud checked each time: no cache of verified tokens),
median of ${rounds} rounds, each gateway started afresh with a 1 s warm-up. Keys: RSA 2048, P-256, Ed25519 (PEM files).
tapgate runs one in-process worker${pinned ? ' pinned to core 1; the origin (node:http) and wrk share core 0' : ' (not pinned: taskset missing or one core)'}.
${cpu}, ${os.cpus().length} cores, Node ${process.version}. A shared, noisy machine: read the ratios, not the digits.
"added per request" is 1/(req/s with) − 1/(req/s without): the plugin's time on the gateway's one core.

| scenario | req/s (median) | × gateway without jwt | added per request | × direct | every round |
| --- | ---: | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, 'bench/results/jwt.md'), text);
  console.log(text);
}
