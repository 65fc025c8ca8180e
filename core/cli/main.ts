// `tapgate <command>`: one file per command; this one only dispatches.
import { gatewayVersion } from '../version.ts';

const usage = `tapgate ${gatewayVersion}: a plugin-based programmable gateway

Usage:
  tapgate run   -c FILE            serve the configuration (YAML or tapgate.config.ts)
  tapgate check -c FILE [--format text|json] [--no-probe]
                                   validate everything; exit 0 valid, 1 invalid (warnings do not fail)
  tapgate --version | --help

Signals (run): SIGTERM or SIGINT stop gracefully (a second SIGINT stops at once), SIGHUP reloads.
`;

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return (await import('./run.ts')).run(rest);
    case 'check':
      return (await import('./check.ts')).check(rest);
    case '--version':
    case '-v':
    case 'version':
      process.stdout.write(`${gatewayVersion}\n`);
      return 0;
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      process.stdout.write(usage);
      return command === undefined ? 1 : 0;
    default:
      process.stderr.write(`tapgate: unknown command "${command}"\n\n${usage}`);
      return 2;
  }
}
