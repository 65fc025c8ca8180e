// The commands the built-in plugins add to the CLI (sdk/commands.ts), and what they are
// given: this process's outputs, and a way to the stats listener a configuration names.
import type { CommandIo, PluginCommand, StatsListener } from '../../sdk/index.ts';
import { readConfig } from '../config/source.ts';
import { parseAddress } from '../../sdk/units.ts';
import type { AnyPluginDefinition } from '../loader.ts';

/** Every command the plugins add, by name; the first plugin to name one has it. */
export function pluginCommands(plugins: ReadonlyMap<string, AnyPluginDefinition>): Map<string, PluginCommand> {
  const commands = new Map<string, PluginCommand>();
  for (const plugin of plugins.values()) {
    for (const [name, command] of Object.entries(plugin.commands ?? {})) if (!commands.has(name)) commands.set(name, command);
  }
  return commands;
}

export const commandIo: CommandIo = {
  stdout: { write: (text) => void process.stdout.write(text), isTTY: process.stdout.isTTY === true },
  stderr: { write: (text) => void process.stderr.write(text), isTTY: process.stderr.isTTY === true },
  env: process.env,
  statsListener,
};

/** Where the stats listener is, and how to be let in, from the config's `stats` section. */
async function statsListener(file: string, options: { token?: string } = {}): Promise<StatsListener> {
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
  const secret = options.token ?? (typeof stats.token === 'string' ? stats.token : undefined);
  const basic = stats.basic_auth;
  const authorization = secret
    ? `Bearer ${secret}`
    : basic && typeof basic.user === 'string' && typeof basic.password === 'string'
      ? `Basic ${Buffer.from(`${basic.user}:${basic.password}`).toString('base64')}`
      : undefined;
  return {
    url,
    get: async (path) => {
      try {
        return await fetch(url + path, { headers: authorization ? { authorization } : {}, signal: AbortSignal.timeout(5000) });
      } catch (err) {
        const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
        throw new Error(`cannot reach the stats listener at ${url + path} (${cause}): is the gateway running?`);
      }
    },
  };
}
