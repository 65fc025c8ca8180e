// `tapgate <command>`: one file per command; this one only dispatches, to its own
// commands and then to those the built-in plugins add (commands.ts). The entry point
// (entry/cli.ts) hands in the built-ins and how workers start.
import type { PluginCommand } from '../../sdk/index.ts';
import type { AnyPluginDefinition } from '../loader.ts';
import type { WorkerEntry } from '../master/master.ts';
import { gatewayVersion } from '../version.ts';
import { commandIo, pluginCommands } from './commands.ts';

export interface CliWiring {
  /** The built-in plugins, loaded when a command needs them (`--version` and the control commands do not). */
  builtins(): Promise<ReadonlyMap<string, AnyPluginDefinition>>;
  /** How `run`'s master starts its workers. */
  worker: WorkerEntry;
}

/** A plugin's command as the usage lists it: its arguments, and below them what it does. */
const describeCommand = ([name, c]: [string, PluginCommand]) => `  tapgate ${name.padEnd(6)} ${c.usage ?? ''}\n${' '.repeat(37)}${c.describe}\n`;

const usage = (commands: ReadonlyMap<string, PluginCommand>) => `tapgate ${gatewayVersion}: a plugin-based programmable gateway

Usage:
  tapgate run    -c FILE [--single]  serve the configuration (YAML or tapgate.config.ts): a master and
                                     its workers, or one in-process worker with --single (or workers: 0)
  tapgate check  -c FILE [--format text|json] [--no-probe]
                                     validate everything; exit 0 valid, 1 invalid (warnings do not fail)
  tapgate explain -c FILE --request 'METHOD URL' [--header 'K: V']... [--src IP] [--frontend NAME]
                 [--sni NAME] [--alpn PROTO] [--format text|json]
                                     which route a request takes, why, and the plugin chain that runs
  tapgate schema [-c FILE]           the configuration's JSON Schema, for editors: built-in plugins' options,
                                     and with -c the user plugins that configuration names
  tapgate reload -c FILE [--plan]    check, then serve a new generation (in the same workers, or new ones) and drain the old;
                                     --plan prints what would change without applying it
  tapgate stop   -c FILE [--hard]    graceful stop (finish in-flight work), or --hard: end everything now
  tapgate status -c FILE             master, generation and workers
${[...commands].map(describeCommand).join('')}  tapgate new plugin NAME [--dir DIR]
                                     scaffold a plugin in DIR/NAME (default ./plugins/NAME): source,
                                     options schema, a test, a README and an example tapgate.yaml
  tapgate --version | --help

reload, stop and status reach the master through its control socket (config key control.socket,
default .tapgate/control.sock beside the config), or --socket PATH.
Signals to the master: SIGHUP or SIGUSR2 reload, SIGTERM stops gracefully, SIGINT stops
gracefully and a second SIGINT stops at once.
`;

export async function main(argv: string[], wiring: CliWiring): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return (await import('./run.ts')).run(rest, wiring);
    case 'check':
      return (await import('./check.ts')).check(rest, await wiring.builtins());
    case 'explain':
      return (await import('./explain.ts')).explainCommand(rest, await wiring.builtins());
    case 'schema':
      return (await import('./schema.ts')).schemaCommand(rest, await wiring.builtins());
    case 'reload':
    case 'stop':
    case 'status':
      return (await import('./control.ts')).control(command, rest);
    case 'new':
      return (await import('./new.ts')).newCommand(rest);
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`${gatewayVersion}\n`);
      return 0;
  }
  const commands = pluginCommands(await wiring.builtins());
  const contributed = command === undefined ? undefined : commands.get(command);
  if (contributed) return contributed.run(rest, commandIo);
  switch (command) {
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage(commands));
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`tapgate: unknown command "${command}"\n\n${usage(commands)}`);
      return 2;
  }
}
