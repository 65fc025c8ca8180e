// The load generators: wrk (closed loop, for the most req/s a target gives) and wrk2
// (open loop at a fixed rate, latency measured from each request's intended send time,
// so coordinated omission is corrected), both pinned to the load core, plus the TCP
// echo client. Every run is bounded by `timeout`.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** What a request looks like: path, method, headers, body, https. */
export interface Request {
  path: string;
  headers?: string[];
  /** POST a body of this many bytes. */
  upload?: number;
  tls?: boolean;
}

export interface LoadResult {
  requests: number;
  duration_s: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  p999_ms: number;
  errors: { connect: number; read: number; write: number; timeout: number; status: number };
  bytes: number;
}

const WRK2_COMMIT = '44a94c17d8e6a0bac8559b53da76848e430cb7a7';

/**
 * wrk2, built into `tools` from giltene/wrk2 (the library mirror or GitHub) with its
 * calibration period cut from 10 s to 2 s: a run's first 2 s are its warm-up and are not
 * recorded. BENCH_WRK2 names a ready binary instead.
 */
export function ensureWrk2(tools: string, log: (s: string) => void): string {
  if (process.env.BENCH_WRK2) return process.env.BENCH_WRK2;
  const bin = join(tools, 'wrk2');
  if (existsSync(bin)) return bin;
  const src = join(tools, 'wrk2-src');
  if (!existsSync(join(src, 'Makefile'))) {
    const mirror = '/work/.mirror/giltene+wrk2/repo';
    const from = existsSync(mirror) ? mirror : 'https://github.com/giltene/wrk2.git';
    log(`building wrk2 from ${from} (needs make, gcc, libssl-dev, zlib1g-dev)`);
    execFileSync('git', ['clone', '-q', from, src], { stdio: 'inherit', timeout: 120_000 });
    execFileSync('git', ['-C', src, 'checkout', '-q', WRK2_COMMIT], { stdio: 'inherit' });
  }
  execFileSync('sed', ['-i', 's/#define CALIBRATE_DELAY_MS  10000/#define CALIBRATE_DELAY_MS  2000/', join(src, 'src/wrk.h')]);
  execFileSync('make', ['-C', src, '-j2'], { stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
  execFileSync('cp', [join(src, 'wrk'), bin]);
  return bin;
}

/** The Lua script for `req`: one tab-separated result line at the end (the same for wrk and wrk2). */
function script(dir: string, req: Request): string {
  const file = join(dir, `req-${req.upload ?? 0}.lua`);
  const lines = [];
  if (req.upload) {
    lines.push('wrk.method = "POST"', `wrk.body = string.rep("x", ${req.upload})`, 'wrk.headers["Content-Type"] = "application/octet-stream"');
  }
  lines.push(
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("LOAD_RESULT\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\t%d\\n",',
    '    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(99), latency:percentile(99.9),',
    '    e.connect, e.read, e.write, e.timeout, e.status))',
    'end',
  );
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

function parse(out: string, wallSeconds: number): LoadResult {
  const line = out.split('\n').find((l) => l.startsWith('LOAD_RESULT'));
  if (!line) throw new Error(`the load generator gave no result:\n${out.slice(-2000)}`);
  const [requests, durationUs, bytes, p50, p99, p999, connect, read, write, timeout, status] = line.split('\t').slice(1).map(Number) as number[];
  // wrk2 counts requests over the whole run (calibration included) but reports the
  // latencies recorded after calibration; its "Requests/sec" line is the whole-run rate.
  const duration = durationUs! / 1e6 || wallSeconds;
  return {
    requests: requests!,
    duration_s: duration,
    rps: requests! / duration,
    bytes: bytes!,
    p50_ms: p50! / 1000,
    p99_ms: p99! / 1000,
    p999_ms: p999! / 1000,
    errors: { connect: connect!, read: read!, write: write!, timeout: timeout!, status: status! },
  };
}

export interface LoadOptions {
  cpus: string;
  port: number;
  req: Request;
  seconds: number;
  connections: number;
  dir: string;
  /** wrk2 at this many requests per second instead of wrk at full speed. */
  rate?: number;
  wrk2?: string;
  /** Called with the PID of the generator's process tree (timeout → wrk) once it starts. */
  onStart?: (pid: number) => void;
}

/** One wrk (or, with `rate`, wrk2) run. */
export function runLoad(o: LoadOptions): Promise<LoadResult> {
  const url = `${o.req.tls ? 'https' : 'http'}://127.0.0.1:${o.port}${o.req.path}`;
  const args = ['-t1', `-c${o.connections}`, `-d${o.seconds}s`, '--latency', '-s', script(o.dir, o.req), ...(o.req.headers ?? []).flatMap((h) => ['-H', h])];
  const bin = o.rate ? o.wrk2! : 'wrk';
  if (o.rate) args.push(`-R${Math.round(o.rate)}`);
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn('timeout', ['-k', '5', String(o.seconds + 30), 'taskset', '-c', o.cpus, bin, ...args, url], { stdio: ['ignore', 'pipe', 'pipe'] });
    o.onStart?.(child.pid!);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('exit', () => {
      try {
        resolve(parse(out, (Date.now() - started) / 1000));
      } catch (err) {
        reject(err);
      }
    });
  });
}

/** TCP echo throughput: the echo client (bench/suite/echo.mjs) for `seconds`, MB/s received back. */
export function runEcho(
  cpus: string,
  port: number,
  seconds: number,
  connections: number,
  onStart?: (pid: number) => void,
): Promise<{ mb_s: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const client = join(import.meta.dirname, 'echo.mjs');
    const child = spawn(
      'timeout',
      ['-k', '5', String(seconds + 30), 'taskset', '-c', cpus, process.execPath, client, 'client', String(port), String(seconds), String(connections)],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    onStart?.(child.pid!);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.once('exit', (code) => {
      const m = /ECHO_RESULT\t(\d+)\t([\d.]+)/.exec(out);
      if (!m || code) return reject(new Error(`echo client failed (${code}): ${out}`));
      resolve({ bytes: Number(m[1]), mb_s: Number(m[1]) / 1e6 / Number(m[2]) });
    });
  });
}
