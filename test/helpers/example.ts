// An example's start script run as a user runs it: a child process, ready when the
// gateway logs "tapgate serving" on stderr. Both outputs are read to the end (a reader
// that stopped would close a pipe the gateway still writes to).
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import { root } from './gateway.ts';

export interface RunningExample {
  child: ChildProcess;
  /** stderr so far (the process log), a line each. */
  readonly lines: string[];
  /** SIGTERM, then its exit code (at once if it has exited already). */
  stop(): Promise<number | null>;
}

export interface ExampleOptions {
  env?: NodeJS.ProcessEnv;
  /** Each stderr line as it comes (tokens, pids the script prints). */
  onLine?: (line: string) => void;
  /** Each stdout line (the access log); ignored without. */
  onStdout?: (line: string) => void;
}

/** Runs `node --import tsx <script>` from the project root; resolves once the gateway serves. */
export async function startExample(script: string, o: ExampleOptions = {}): Promise<RunningExample> {
  // Not under node:test's reporter protocol: the script is a program of its own.
  const env = { ...(o.env ?? process.env), NODE_TEST_CONTEXT: undefined };
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (o.onStdout) createInterface({ input: child.stdout! }).on('line', o.onStdout);
  else child.stdout!.resume();
  const lines: string[] = [];
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stderr! }).on('line', (line) => {
      lines.push(line);
      o.onLine?.(line);
      if (line.includes('tapgate serving')) resolve();
    });
    child.once('exit', (code) => reject(new Error(`${script} exited (${code}) before serving:\n${lines.join('\n')}`)));
  });
  return {
    child,
    lines,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}
