// A real master with its workers: the CLI's `tapgate run` as a child process, serving a
// config against the harness's origins, driven through its control socket as
// `tapgate reload` and `tapgate status` drive it. And the CLI itself, run once.
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { controlRequest } from '../../core/master/control.ts';
import type { ReloadReply, StatusReply } from '../../core/master/messages.ts';
import { frontDoor, type FrontDoor } from './client.ts';
import { harnessDir, writeFiles } from './folder.ts';
import { startOrigins, unusedPort, withOrigins, type OriginHandler, type TestOrigin } from './origins.ts';

const bin = fileURLToPath(new URL('../../bin/tapgate.mjs', import.meta.url));

export interface TestMasterOptions {
  /** The configuration as YAML would write it, `origin:<name>` as for `createTestGateway`. A bind on port 0 gets a free port of its own (workers share their ports), kept across reloads. Default `workers: 2`. */
  config: Record<string, unknown>;
  /** Plugin sources by what `use:` says, written beside the config (workers are other processes: no definitions in memory). */
  plugins?: Record<string, string>;
  origins?: Record<string, OriginHandler>;
  files?: Record<string, string>;
}

export interface TestMasterStatus {
  generation: number;
  workers: { pid: number; generation: number; state: string }[];
}

export interface TestMaster extends FrontDoor {
  readonly dir: string;
  readonly file: string;
  readonly origins: Readonly<Record<string, TestOrigin>>;
  /** The stats listener's port, with a `stats:` section. */
  readonly statsPort: number | undefined;
  /** Lines the master and its workers wrote to stderr. */
  readonly output: readonly string[];
  status(): Promise<TestMasterStatus>;
  /** Writes the config and files given (else keeps them) and reloads, as `tapgate reload` does: resolves once the new generation serves, or with the problems that refused it. */
  reload(change?: {
    config?: Record<string, unknown>;
    files?: Record<string, string>;
  }): Promise<{ ok: boolean; generation?: number; problems?: { path: string; message: string }[]; error?: string }>;
  /** Stops the master at once (its workers with it), then the origins. */
  close(): Promise<void>;
}

export async function createTestMaster(options: TestMasterOptions): Promise<TestMaster> {
  const dir = harnessDir();
  const file = join(dir, 'tapgate.yaml');
  let origins: Record<string, TestOrigin> = {};
  const output: string[] = [];
  const ports = new Map<string, number>();
  let config: Record<string, any> = {};
  let child: ReturnType<typeof spawn> | undefined;
  let door: ReturnType<typeof frontDoor> | undefined;
  const socket = join(dir, '.tapgate', 'control.sock');
  const exited = () => child === undefined || child.exitCode !== null || child.signalCode !== null;
  const close = async () => {
    door?.close();
    if (child && !exited()) {
      const exit = once(child, 'exit');
      await controlRequest(socket, { cmd: 'stop', hard: true }, 5000).catch(() => child!.kill('SIGKILL'));
      await exit;
    }
    await Promise.all(Object.values(origins).map((o) => o.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  /** Replaces each port-0 bind with a port of its own, the same one at each write. */
  const bound = async (key: string, bind: unknown): Promise<unknown> => {
    if (typeof bind !== 'string' || !bind.endsWith(':0')) return bind;
    if (!ports.has(key)) ports.set(key, await unusedPort());
    return `${bind.slice(0, -2)}:${ports.get(key)}`;
  };
  const write = async (given: Record<string, unknown>) => {
    const next = withOrigins({ workers: 2, log: { level: 'warn', access: false }, ...given }, origins) as Record<string, any>;
    for (const [name, fe] of Object.entries<Record<string, unknown>>(next.frontends ?? {})) {
      if (Array.isArray(fe.bind)) fe.bind = await Promise.all(fe.bind.map((b, n) => bound(`${name}[${n}]`, b)));
      else fe.bind = await bound(`${name}[0]`, fe.bind);
    }
    if (next.stats) next.stats.bind = await bound('stats', next.stats.bind);
    writeFileSync(file, stringify(next));
    config = next;
  };
  const portOf = (key: string) => {
    const port = ports.get(key);
    if (port === undefined) throw new Error(`${key}: no port of its own (only binds on port 0 get one)`);
    return port;
  };
  try {
    origins = await startOrigins(options.origins);
    writeFiles(dir, { ...options.files, ...options.plugins });
    await write(options.config);
    const c = (child = spawn(process.execPath, [bin, 'run', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] }));
    createInterface({ input: c.stderr! }).on('line', (line) => output.push(line));
    // The control socket answers once the first generation serves.
    for (
      let i = 0;
      !(await controlRequest(socket, { cmd: 'status' }, 1000).then(
        () => true,
        () => false,
      ));
      i++
    ) {
      if (exited()) throw new Error(`the master exited (${c.signalCode ?? c.exitCode}):\n${output.join('\n')}`);
      if (i >= 600) throw new Error(`the master did not serve within 30 s:\n${output.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const d = (door = frontDoor({
      port: (frontend, n) => portOf(`${frontend}[${n}]`),
      frontends: () => Object.entries<Record<string, unknown>>(config.frontends ?? {}).map(([name, fe]) => ({ name, tls: fe.tls !== undefined })),
      origins,
    }));
    return {
      ...d,
      dir,
      file,
      origins,
      output,
      get statsPort() {
        return ports.get('stats');
      },
      status: async () => {
        const reply = await controlRequest<StatusReply>(socket, { cmd: 'status' });
        return { generation: reply.generation, workers: reply.workers.map((w) => ({ pid: w.pid, generation: w.generation, state: w.state })) };
      },
      reload: async (change = {}) => {
        writeFiles(dir, change.files ?? {});
        if (change.config) await write(change.config);
        const reply = await controlRequest<ReloadReply>(socket, { cmd: 'reload', plan: false });
        return { ok: reply.ok, generation: reply.generation, problems: reply.problems?.map((p) => ({ path: p.path, message: p.message })), error: reply.error };
      },
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the `tapgate` CLI with `args` (`['stats', '-c', t.file]`) to its end; never rejects for a non-zero exit. */
export function runTapgate(args: readonly string[], o: { env?: Record<string, string>; cwd?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [bin, ...args], { cwd: o.cwd, env: { ...process.env, ...o.env } }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}
