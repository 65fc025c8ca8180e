// The control channel: a Unix socket the master listens on. One JSON request per
// connection, one JSON reply. `tapgate reload|stop|status` are its clients.
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import type { ControlRequest, ReloadReply, StatusReply } from './messages.ts';

export interface ControlHandlers {
  reload(plan: boolean): Promise<ReloadReply>;
  stop(hard: boolean): Promise<{ ok: true; workers: number }>;
  status(): StatusReply;
}

export class ControlServer {
  readonly #server: net.Server;

  constructor(
    readonly path: string,
    private readonly logger: Logger,
    handlers: ControlHandlers,
  ) {
    this.#server = net.createServer((socket) => {
      let buffer = '';
      socket.setEncoding('utf8');
      socket.on('error', () => undefined);
      socket.on('data', (chunk: string) => {
        buffer += chunk;
        const nl = buffer.indexOf('\n');
        if (nl === -1) {
          if (buffer.length > 64 * 1024) socket.destroy();
          return;
        }
        let request: ControlRequest;
        try {
          request = JSON.parse(buffer.slice(0, nl));
        } catch {
          return void socket.end(JSON.stringify({ ok: false, error: 'not JSON' }) + '\n');
        }
        const reply =
          request.cmd === 'reload'
            ? handlers.reload(Boolean(request.plan))
            : request.cmd === 'stop'
              ? handlers.stop(Boolean(request.hard))
              : request.cmd === 'status'
                ? Promise.resolve(handlers.status())
                : Promise.resolve({ ok: false, error: `unknown command ${JSON.stringify((request as { cmd?: unknown }).cmd)}` });
        reply.then(
          (r) => socket.end(JSON.stringify(r) + '\n'),
          (err: Error) => socket.end(JSON.stringify({ ok: false, error: err.message }) + '\n'),
        );
      });
    });
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true });
    if (existsSync(this.path)) {
      // A socket file left by a master that died; refuse if one is alive behind it.
      if (await reachable(this.path)) throw new Error(`another tapgate master is listening on ${this.path}`);
      rmSync(this.path, { force: true });
    }
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(this.path, () => resolve());
    });
    this.logger.debug({ path: this.path }, 'control socket listening');
  }

  close(): void {
    this.#server.close();
    rmSync(this.path, { force: true });
  }
}

function reachable(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(path, () => {
      s.destroy();
      resolve(true);
    });
    s.on('error', () => resolve(false));
  });
}

/** Sends one request to a master and returns its reply. */
export function controlRequest<T = unknown>(path: string, request: ControlRequest, timeoutMs = 120_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(path, () => socket.write(JSON.stringify(request) + '\n'));
    let buffer = '';
    socket.setEncoding('utf8');
    socket.setTimeout(timeoutMs, () => socket.destroy(new Error('no answer from the master')));
    socket.on('data', (d: string) => (buffer += d));
    socket.on('end', () => {
      try {
        resolve(JSON.parse(buffer));
      } catch {
        reject(new Error(`unreadable answer from the master: ${buffer.slice(0, 200)}`));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) =>
      reject(err.code === 'ENOENT' || err.code === 'ECONNREFUSED' ? new Error(`no tapgate master is running (nothing at ${path})`) : err),
    );
  });
}
