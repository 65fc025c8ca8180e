// Processes of the benchmark suite: started pinned to cores (taskset), logged to a file,
// counted (CPU time and RSS of a process and all its descendants, read from /proc) and
// stopped by PID, tree and all. Every process started here is stopped on exit, also on
// Ctrl-C, and never by name.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, readdirSync, readFileSync, closeSync } from 'node:fs';
import net from 'node:net';

const started = new Set<ChildProcess>();

/** A started process: its child handle and log file. */
export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  log: string;
}

/** Starts `command` pinned to `cpus` ("1" or "0,1"), stdout and stderr into `log`. */
export function startPinned(name: string, cpus: string, command: string[], log: string, opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Proc {
  const fd = openSync(log, 'w');
  const child = spawn('taskset', ['-c', cpus, ...command], { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  started.add(child);
  child.once('exit', () => started.delete(child));
  return { name, child, pid: child.pid!, log };
}

/** Every descendant of `pid` (children, their children, ...). */
export function descendants(pid: number): number[] {
  const kids = new Map<number, number[]>();
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    const stat = readStat(Number(p));
    if (!stat) continue;
    const list = kids.get(stat.ppid) ?? [];
    list.push(Number(p));
    kids.set(stat.ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    for (const k of kids.get(queue.shift()!) ?? []) {
      out.push(k);
      queue.push(k);
    }
  }
  return out;
}

/** The process and all its descendants. */
export function tree(pid: number): number[] {
  return [pid, ...descendants(pid)];
}

function readStat(pid: number): { ppid: number; ticks: number; state: string } | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state ppid ... utime(14th field overall → index 11 here) stime(12)
    return { state: f[0]!, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) };
  } catch {
    return undefined;
  }
}

/** CPU ticks (user + system, 1/100 s) used so far by each of `pids`. */
export function ticksOf(pids: number[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const p of pids) {
    const s = readStat(p);
    if (s) m.set(p, s.ticks);
  }
  return m;
}

/** Ticks of every process on the machine, by PID. */
export function allTicks(): Map<number, number> {
  return ticksOf(
    readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .map(Number),
  );
}

/** Σ ticks in `after` − `before` over the PIDs present in both (and kept by `keep`). */
export function tickDelta(before: Map<number, number>, after: Map<number, number>, keep: (pid: number) => boolean = () => true): number {
  let sum = 0;
  for (const [pid, t] of after) if (before.has(pid) && keep(pid)) sum += t - before.get(pid)!;
  return sum;
}

/** Resident set size in bytes of each of `pids`, summed. */
export function rssOf(pids: number[]): number {
  let sum = 0;
  for (const p of pids) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) sum += Number(m[1]) * 1024;
    } catch {
      /* gone */
    }
  }
  return sum;
}

/** Per-core busy and total ticks from /proc/stat. */
export function coreTicks(): Map<number, { busy: number; total: number; task: number }> {
  const m = new Map<number, { busy: number; total: number; task: number }>();
  for (const line of readFileSync('/proc/stat', 'utf8').split('\n')) {
    const x = /^cpu(\d+) (.*)$/.exec(line);
    if (!x) continue;
    const v = x[2]!.trim().split(/\s+/).map(Number);
    const busy = v[0]! + v[1]! + v[2]! + v[5]! + v[6]!;
    // task: user + nice + system, the time processes are charged with (irq and softirq are not)
    m.set(Number(x[1]), { busy, total: busy + v[3]! + v[4]! + v[7]!, task: v[0]! + v[1]! + v[2]! });
  }
  return m;
}

/** Ticks charged to processes on every core between two coreTicks snapshots. */
export function taskTicks(before: ReturnType<typeof coreTicks>, after: ReturnType<typeof coreTicks>): number {
  let sum = 0;
  for (const [c, a] of after) sum += a.task - (before.get(c)?.task ?? a.task);
  return sum;
}

/** Busy share (%) of `cores` between two coreTicks snapshots. */
export function busyPct(before: ReturnType<typeof coreTicks>, after: ReturnType<typeof coreTicks>, cores: number[]): number {
  let busy = 0,
    total = 0;
  for (const c of cores) {
    busy += after.get(c)!.busy - before.get(c)!.busy;
    total += after.get(c)!.total - before.get(c)!.total;
  }
  return total ? Math.round((100 * busy) / total) : 0;
}

function alive(pid: number): boolean {
  const s = readStat(pid);
  return !!s && s.state !== 'Z';
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM to the process and its descendants, SIGKILL to what is left after 5 s. */
export async function stopTree(proc: Proc): Promise<void> {
  const pids = tree(proc.pid);
  for (const p of pids)
    try {
      process.kill(p, 'SIGTERM');
    } catch {
      /* gone */
    }
  for (let i = 0; i < 50 && pids.some(alive); i++) await sleep(100);
  for (const p of pids)
    if (alive(p))
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
  if (proc.child.exitCode === null && proc.child.signalCode === null)
    await new Promise((r) => {
      proc.child.once('exit', r);
      setTimeout(r, 1000);
    });
}

/** Stops every process still running (synchronously, for exit handlers): trees, SIGKILL. */
export function killAll(): void {
  for (const child of started) {
    if (!child.pid) continue;
    for (const p of tree(child.pid).reverse())
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
  }
}

/** Whether something accepts connections on 127.0.0.1:port. */
export function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** Until `port` accepts connections (and, when given, `log` contains `text`); throws after `ms`. */
export async function waitReady(proc: Proc, port: number, ms = 30_000, text?: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (proc.child.exitCode !== null || proc.child.signalCode !== null) break;
    if ((!text || readFileSync(proc.log, 'utf8').includes(text)) && (await portOpen(port))) return;
    await sleep(100);
  }
  const tail = readFileSync(proc.log, 'utf8').split('\n').slice(-20).join('\n');
  throw new Error(`${proc.name} is not serving on 127.0.0.1:${port}; end of ${proc.log}:\n${tail}`);
}
