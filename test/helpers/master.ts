// A real master process (`tapgate run`) with its workers, driven through the control socket.
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { controlRequest } from '../../core/master/control.ts';
import type { ReloadReply, StatusReply } from '../../core/master/messages.ts';
import { root, tempDir } from './gateway.ts';

export const bin = join(root, 'bin', 'tapgate.mjs');

export interface TestMaster {
  child: ChildProcess;
  dir: string;
  file: string;
  socket: string;
  /** Lines the master and workers wrote to stderr. */
  log: string[];
  write(config: string, files?: Record<string, string>): void;
  /** Resolves once the control socket answers (it opens after the first generation is ready). */
  serving(): Promise<void>;
  reload(plan?: boolean): Promise<ReloadReply>;
  status(): Promise<StatusReply>;
  stop(hard?: boolean): Promise<number | null>;
  exited: Promise<number | null>;
}

export async function startMaster(config: string, files: Record<string, string> = {}): Promise<TestMaster> {
  const master = spawnMaster(config, files);
  await master.serving();
  return master;
}

/** Starts `tapgate run` and returns at once, before the master serves (see `serving`). */
export function spawnMaster(config: string, files: Record<string, string> = {}): TestMaster {
  const dir = tempDir();
  const file = join(dir, 'tapgate.yaml');
  // Each file replaced whole (written beside, then renamed): a check running meanwhile (the master's, at a reload)
  // reads the old text or the new, never a half-written one.
  const write = (text: string, more: Record<string, string> = {}) => {
    for (const [name, body] of Object.entries(more)) replace(join(dir, name), body);
    replace(file, text);
  };
  write(config, files);
  const child = spawn(process.execPath, [bin, 'run', '-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = once(child, 'exit').then(([code]) => code as number | null);
  const log: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => log.push(line));
  const socket = join(dir, '.tapgate', 'control.sock');
  const serving = async () => {
    for (let i = 0; ; i++) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`master exited (${child.signalCode ?? child.exitCode}):\n${log.join('\n')}`);
      const up = await controlRequest<StatusReply>(socket, { cmd: 'status' }, 1000).catch(() => undefined);
      if (up) return;
      if (i > 600) throw new Error(`master did not come up in 30 s:\n${log.join('\n')}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  return {
    child,
    dir,
    file,
    socket,
    log,
    write,
    exited,
    serving,
    reload: (plan = false) => controlRequest<ReloadReply>(socket, { cmd: 'reload', plan }),
    status: () => controlRequest<StatusReply>(socket, { cmd: 'status' }),
    stop: async (hard = false) => {
      if (child.exitCode === null && child.signalCode === null) await controlRequest(socket, { cmd: 'stop', hard }).catch(() => child.kill('SIGKILL'));
      const code = await exited;
      rmSync(dir, { recursive: true, force: true });
      return code;
    },
  };
}

/** Writes `path` by renaming a file written whole beside it. */
function replace(path: string, text: string): void {
  writeFileSync(`${path}.tmp`, text);
  renameSync(`${path}.tmp`, path);
}
