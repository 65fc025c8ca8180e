// Client loops against a gateway's port, bounded in count and time, that remember how
// each failed request failed; and waiting for a condition without a fixed sleep.
import http from 'node:http';
import net from 'node:net';

export interface Load {
  /** Requests answered 200. */
  readonly ok: number;
  /** How the others failed: `status 502`, `ECONNRESET`, `ECONNREFUSED`... */
  failures: string[];
  stop(): Promise<void>;
}

/**
 * `closers` loops opening a connection per request (`Connection: close`) and `keepers`
 * loops on a keep-alive connection each; each loop makes at most `max` requests and
 * stops at `ms` if not stopped before.
 */
export function load(port: number, closers: number, keepers: number, { max = 100_000, ms = 120_000 } = {}): Load {
  const state = { ok: 0, failures: [] as string[], running: true };
  const deadline = Date.now() + ms;
  const request = (agent: http.Agent | false, headers: Record<string, string>) =>
    new Promise<void>((resolve) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) state.ok++;
          else state.failures.push(`status ${res.statusCode}`);
          resolve();
        });
        res.on('error', (e) => (state.failures.push(`response ${e.message}`), resolve()));
      });
      req.on('error', (e) => (state.failures.push(`${(e as NodeJS.ErrnoException).code ?? e.message}`), resolve()));
      req.end();
    });
  const loop = async (agent: http.Agent | false, headers: Record<string, string>) => {
    for (let n = 0; state.running && n < max && Date.now() < deadline; n++) await request(agent, headers);
  };
  const agents = Array.from({ length: keepers }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
  const loops = [...Array.from({ length: closers }, () => loop(false, { connection: 'close' })), ...agents.map((a) => loop(a, {}))];
  return {
    get ok() {
      return state.ok;
    },
    failures: state.failures,
    stop: async () => {
      state.running = false;
      await Promise.all(loops);
      for (const a of agents) a.destroy();
    },
  };
}

/** Polls `probe` every 20 ms until it returns a value (not undefined or false); fails after `ms`. */
export async function until<T>(probe: () => Promise<T | undefined | false>, ms: number, what: string): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Whether something accepts a TCP connection on 127.0.0.1:`port` now. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}
