// What the wrk benchmarks (cache.ts, jwt.ts, rate-limit.ts) share: the run's settings, a
// node:http origin in a child process, gateways started from a config and awaited until
// they serve, free ports, pinning to a core with taskset, running wrk and reading its
// req/s, medians, and the results file.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root: children run there, results go under it. */
export const root = fileURLToPath(new URL('..', import.meta.url));
/** Seconds of each measured wrk run (BENCH_SECONDS, 5 by default). */
export const seconds = Number(process.env.BENCH_SECONDS ?? 5);
/** Rounds of every scenario; the table shows the median (BENCH_ROUNDS, 3 by default). */
export const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
/** wrk's open connections (one thread). */
export const connections = 50;
const bodySize = 1024;

/** req/s of every round, by scenario name, in the order first measured. */
export type Results = Record<string, number[]>;

/** Whether processes can be pinned to cores: taskset runs and there are two cores or more. */
export function pinning(): boolean {
  try {
    execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
    return os.cpus().length >= 2;
  } catch {
    return false;
  }
}

/** The command prefix running on `core` when `pin`, else nothing. */
export function onCore(pin: boolean, core: number): string[] {
  return pin ? ['taskset', '-c', String(core)] : [];
}

/** A loopback port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * Starts `prefix` + `command` in the root. With `ipc` the child shares this stdout and
 * stderr and gets a message channel; without, its stderr is piped (for `serving`).
 */
export function startProcess(name: string, prefix: string[], command: string[], ipc: boolean): ChildProcess {
  const [file, ...args] = [...prefix, ...command];
  const child = spawn(file!, args, { cwd: root, stdio: ipc ? ['ignore', 'inherit', 'inherit', 'ipc'] : ['ignore', 'ignore', 'pipe'] });
  child.once('exit', (code, signal) => {
    if (code && signal === null) console.error(`${name} exited with ${code}`);
  });
  return child;
}

/** Resolves at the child's first message (the origin's "ready"). */
export function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('exit', () => reject(new Error('origin exited before it was ready')));
  });
}

/** Resolves when the gateway logs that it serves. */
export function serving(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let seen = '';
    child.stderr!.on('data', (d: Buffer) => {
      seen += d;
      if (seen.includes('tapgate serving')) resolve();
    });
    child.once('exit', () => reject(new Error(`gateway exited:\n${seen}`)));
  });
}

/** SIGTERM, resolved once the child has exited (at once if it already has). */
export function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
  });
}

/**
 * In the origin child (the script run with `origin <port>`): answers every request with
 * a 1 KiB text body and `headers(url)`, and messages the parent once it listens.
 */
export function serveOrigin(headers: (url: string | undefined) => http.OutgoingHttpHeaders = () => ({})): void {
  const body = Buffer.alloc(bodySize, 'x');
  const server = http.createServer((req, res) => {
    req.resume();
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': body.length, ...headers(req.url) }).end(body);
  });
  server.keepAliveTimeout = 60_000;
  server.listen(Number(process.argv[3]), '127.0.0.1', () => process.send?.('ready'));
}

/** Runs `script` (its import.meta.url) as the origin on a free port, on core 0 when pinned; resolves once it listens. */
export async function startOrigin(script: string, pin: boolean): Promise<{ origin: ChildProcess; originPort: number }> {
  const originPort = await freePort();
  const origin = startProcess('origin', onCore(pin, 0), [process.execPath, '--import', 'tsx', fileURLToPath(script), 'origin', String(originPort)], true);
  await ready(origin);
  return { origin, originPort };
}

/** `tapgate run` with the config `file` behind `prefix` (see onCore), `--single` unless told; resolves once it serves. */
export async function startGateway(file: string, prefix: string[], { single = true } = {}): Promise<ChildProcess> {
  const gateway = startProcess('gateway', prefix, [process.execPath, join(root, 'bin/tapgate.mjs'), 'run', ...(single ? ['--single'] : []), '-c', file], false);
  await serving(gateway);
  return gateway;
}

/** A gateway config: `workers`, one frontend on `port` to the origin, with `plugins` (a YAML list's items) when given. */
export function gatewayConfig(port: number, originPort: number, workers: number, plugins?: string): string {
  return [
    `workers: ${workers}`,
    'log: { level: info, access: false }',
    'frontends:',
    '  bench:',
    `    bind: 127.0.0.1:${port}`,
    '    default_backend: origin',
    '    forwarded: { xff: false, proto_host: false }',
    ...(plugins ? [`    plugins: [${plugins}]`] : []),
    'backends:',
    '  origin:',
    `    servers: [{ name: o, address: "127.0.0.1:${originPort}" }]`,
    '',
  ].join('\n');
}

/** wrk -t1 for `duration` seconds with `headers` (on core 0 when pinning), resolving to its req/s. */
export function runWrk(url: string, duration: number, headers: string[] = []): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-t1', `-c${connections}`, `-d${duration}s`, ...headers.flatMap((h) => ['-H', h]), url];
    const pin = pinning();
    const child = spawn(pin ? 'taskset' : 'wrk', pin ? ['-c', '0', 'wrk', ...args] : args);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', () => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      if (!m) return reject(new Error(`wrk said:\n${out}`));
      // A refused request (a 401, a 429) would be fast, and wrong. Say so loudly.
      if (/Non-2xx/.test(out) || /Socket errors/.test(out))
        console.warn(
          out
            .split('\n')
            .filter((l) => /Non-2xx|Socket errors/.test(l))
            .join('\n'),
        );
      resolve(Number(m[1]));
    });
  });
}

/** A 1 s warm-up, then `seconds` measured: the req/s goes into `results[name]` and is logged. */
export async function measure(results: Results, name: string, url: string, headers: string[] = []): Promise<void> {
  await runWrk(url, 1, headers);
  const rps = await runWrk(url, seconds, headers);
  (results[name] ??= []).push(rps);
  console.log(`${name}: ${Math.round(rps)} req/s`);
}

/** The middle value (the upper one of an even count). */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
}

/** req/s rounded, with thousands separators. */
export function formatRps(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

/** 1/with − 1/without in µs: the time a request gains on the one busy core. */
export function addedPerRequest(rps: number, without: number): string {
  return `${((1 / rps - 1 / without) * 1e6).toFixed(0)} µs`;
}

/** Now, as "YYYY-MM-DD HH:MM" (UTC). */
export function timestamp(): string {
  return new Date().toISOString().slice(0, 16).replace('T', ' ');
}

/** The machine line under every table's description. */
export function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, Node ${process.version}. A shared, noisy machine: read the ratios, not the digits.`;
}

/** Writes bench/results/<name>.md and prints it. */
export function writeResultsFile(name: string, text: string): void {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  writeFileSync(join(root, `bench/results/${name}.md`), text);
  console.log(text);
}
