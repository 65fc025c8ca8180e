// `tapgate stats`: what the stats listener says at /stats.txt (the terminal table,
// terminal.ts) or /stats.json, once or redrawn every few seconds.
import { parseArgs } from 'node:util';
import type { CommandIo, PluginCommand, StatsListener } from '../../sdk/index.ts';

const options = {
  config: { type: 'string', short: 'c', default: 'tapgate.yaml' },
  token: { type: 'string' },
  watch: { type: 'boolean', short: 'w', default: false },
  interval: { type: 'string', default: '2' },
  format: { type: 'string', default: 'text' },
} as const;

export const statsCommand: PluginCommand = {
  usage: '-c FILE [--token T] [--watch [--interval S]] [--format text|json]',
  describe: 'frontends, backends and servers from the stats listener (stats.bind)',
  run,
};

async function run(args: string[], io: CommandIo): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({ args, options }));
  } catch (err) {
    io.stderr.write(`tapgate stats: ${(err as Error).message}\n`);
    return 2;
  }
  const interval = Number(values.interval);
  if (!(interval > 0)) {
    io.stderr.write(`tapgate stats: --interval: expected seconds above 0, found ${values.interval}\n`);
    return 2;
  }
  try {
    const listener = await io.statsListener(values.config, { token: values.token });
    const color = io.stdout.isTTY && !io.env.NO_COLOR;
    const show = () => fetchStats(listener, values.format === 'json' ? '/stats.json' : color ? '/stats.txt?color=1' : '/stats.txt');
    if (!values.watch) {
      io.stdout.write(await show());
      return 0;
    }
    for (;;) {
      const text = await show().catch((err: Error) => `tapgate stats: ${err.message}\n`);
      io.stdout.write((io.stdout.isTTY ? '\x1b[H\x1b[2J' : '') + text);
      await new Promise((r) => setTimeout(r, interval * 1000));
    }
  } catch (err) {
    io.stderr.write(`tapgate stats: ${(err as Error).message}\n`);
    return 1;
  }
}

/** One of this plugin's documents on the stats listener, as text. */
async function fetchStats(listener: StatsListener, path: string): Promise<string> {
  const res = await listener.get(path);
  const url = listener.url + path;
  if (res.status === 401 || res.status === 403)
    throw new Error(`the stats listener refused the request (${res.status}): give --token, or set stats.token in the config`);
  if (res.status === 404) throw new Error(`${url} answered 404: the stats plugin is not loaded`);
  if (!res.ok) throw new Error(`${url} answered ${res.status}`);
  return res.text();
}
