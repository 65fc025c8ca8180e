// `tapgate stats`: what the stats listener the configuration's `stats:` section names
// says at /stats.txt (a terminal table) or /stats.json; the stats plugin renders both.
import { parseArgs } from 'node:util';
import { readConfig } from '../config/source.ts';
import { parseAddress } from '../../sdk/units.ts';

const options = {
  config: { type: 'string', short: 'c', default: 'tapgate.yaml' },
  token: { type: 'string' },
  watch: { type: 'boolean', short: 'w', default: false },
  interval: { type: 'string', default: '2' },
  format: { type: 'string', default: 'text' },
} as const;

interface Target {
  /** The listener's base URL, without a path. */
  url: string;
  authorization: string | undefined;
}

/** Where the stats listener is, and how to be let in, from the config's `stats` section. */
export async function statsTarget(file: string, token?: string): Promise<Target> {
  const source = await readConfig(file);
  if (source.data === undefined) throw new Error(source.problems.map((p) => p.message).join('; ') || `cannot read ${file}`);
  const stats = (source.data as { stats?: { bind?: unknown; token?: unknown; basic_auth?: { user?: unknown; password?: unknown } } }).stats;
  if (!stats) throw new Error(`no stats section in ${file}: add one, e.g. stats: { bind: 127.0.0.1:8404 }`);
  const bind = typeof stats.bind === 'string' ? parseAddress(stats.bind) : undefined;
  if (!bind) throw new Error(`stats.bind in ${file}: expected host:port, found ${JSON.stringify(stats.bind)}`);
  if (bind.port === 0) throw new Error(`stats.bind in ${file} has port 0: the listener's port is not known from the config`);
  // A listener on every address answers on loopback.
  const host = bind.host === '0.0.0.0' ? '127.0.0.1' : bind.host === '::' ? '::1' : bind.host;
  const url = `http://${host.includes(':') ? `[${host}]` : host}:${bind.port}`;
  const secret = token ?? (typeof stats.token === 'string' ? stats.token : undefined);
  const basic = stats.basic_auth;
  const authorization = secret
    ? `Bearer ${secret}`
    : basic && typeof basic.user === 'string' && typeof basic.password === 'string'
      ? `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString('base64')}`
      : undefined;
  return { url, authorization };
}

/** One of the stats plugin's documents (`/stats.txt`, `/stats.json`), as text. */
export async function fetchStats(target: Target, path: string): Promise<string> {
  const url = target.url + path;
  let res: Response;
  try {
    res = await fetch(url, { headers: target.authorization ? { authorization: target.authorization } : {}, signal: AbortSignal.timeout(5000) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`cannot reach the stats listener at ${url} (${cause}): is the gateway running?`);
  }
  if (res.status === 401 || res.status === 403) throw new Error(`the stats listener refused the request (${res.status}): give --token, or set stats.token in the config`);
  if (res.status === 404) throw new Error(`${url} answered 404: the stats plugin is not loaded`);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.text();
}

export async function statsCommand(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args: argv, options }));
  } catch (err) {
    process.stderr.write(`tapgate stats: ${(err as Error).message}\n`);
    return 2;
  }
  const interval = Number(values.interval);
  if (!(interval > 0)) {
    process.stderr.write(`tapgate stats: --interval: expected seconds above 0, found ${values.interval}\n`);
    return 2;
  }
  try {
    const target = await statsTarget(values.config, values.token);
    const color = process.stdout.isTTY === true && !process.env.NO_COLOR;
    const show = () => fetchStats(target, values.format === 'json' ? '/stats.json' : color ? '/stats.txt?color=1' : '/stats.txt');
    if (!values.watch) {
      process.stdout.write(await show());
      return 0;
    }
    for (;;) {
      const text = await show().catch((err: Error) => `tapgate stats: ${err.message}\n`);
      process.stdout.write((process.stdout.isTTY ? '\x1b[H\x1b[2J' : '') + text);
      await new Promise((r) => setTimeout(r, interval * 1000));
    }
  } catch (err) {
    process.stderr.write(`tapgate stats: ${(err as Error).message}\n`);
    return 1;
  }
}
