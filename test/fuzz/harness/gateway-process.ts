// A gateway under fuzz: `tapgate run` in a child process of its own, so that an
// unhandled error is what it is in production, a process (or worker) that exits, and
// everything it writes to stderr can be read per case.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { stringify } from 'yaml';
import { controlRequest } from '../../../core/master/control.ts';
import type { StatusReply } from '../../../core/master/messages.ts';
import { root, tempDir } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');

/** How long a gateway may take to say it serves (tsx compiles the sources on a cold start; the machine is shared). */
const startupMs = 60_000;

export interface GatewayProcess {
  readonly dir: string;
  readonly child: ChildProcess;
  /** stderr, a line each: the event log (pino JSON) and anything else (a stack, a Node warning). */
  readonly stderr: string[];
  /** stdout, a line each: the access log. */
  readonly stdout: string[];
  /** Exit code or signal once the process has exited, else undefined. */
  exit(): string | undefined;
  /** Waits up to `ms` for the process to exit (one that stopped answering may be dying); its exit, or undefined. */
  exited(ms: number): Promise<string | undefined>;
  /** Worker pids from the control socket (a master only). */
  workers(): Promise<number[]>;
  stop(): Promise<void>;
}

/** Writes `config` and `files` to a fresh folder and runs `tapgate run -c` on it until it logs `tapgate serving`. */
export async function startGatewayProcess(config: object, files: Record<string, string> = {}): Promise<GatewayProcess> {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'tapgate.yaml');
  writeFileSync(file, stringify(config));
  const child = spawn(process.execPath, [bin, 'run', '-c', file], { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  const stderr: string[] = [];
  const stdout: string[] = [];
  let exitedWith: string | undefined;
  const exited = once(child, 'exit').then(([code, signal]) => void (exitedWith = `exit code ${code} signal ${signal}`));
  // A test process that ends without stopping its gateway (a failed hook, a cancelled run) takes it along.
  const orphan = () => child.kill('SIGKILL');
  process.once('exit', orphan);
  void exited.then(() => process.off('exit', orphan));
  createInterface({ input: child.stdout! }).on('line', (line) => stdout.push(line));
  const serving = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the gateway did not say "tapgate serving" within ${startupMs} ms:\n${stderr.join('\n')}`)), startupMs);
    createInterface({ input: child.stderr! }).on('line', (line) => {
      stderr.push(line);
      if (line.includes('"tapgate serving"')) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`the gateway exited before serving (${exitedWith}):\n${stderr.join('\n')}`));
    });
  });
  await serving.catch((err) => {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw err;
  });
  const socket = join(dir, '.tapgate', 'control.sock');
  return {
    dir,
    child,
    stderr,
    stdout,
    exit: () => exitedWith,
    exited: async (ms) => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exited, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
      clearTimeout(timer);
      return exitedWith;
    },
    workers: async () => (await controlRequest<StatusReply>(socket, { cmd: 'status' }, 5000)).workers.map((w) => w.pid),
    stop: async () => {
      if (exitedWith === undefined) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Lines of the event log that say something went wrong: anything at level error or above
 * (pino's 50: an error the kernel contained and reported, a worker that died), and any line
 * that is not the log's JSON (a stack trace, `MaxListenersExceededWarning`, an unhandled rejection).
 */
export function troubleLines(lines: readonly string[]): string[] {
  return lines.filter((line) => {
    // Node's hint after its first warning: the warning itself is the line that counts.
    if (line.startsWith('(Use `node --trace-warnings')) return false;
    if (!line.startsWith('{')) return line.trim() !== '';
    try {
      return (JSON.parse(line) as { level?: number }).level! >= 50;
    } catch {
      return true;
    }
  });
}
