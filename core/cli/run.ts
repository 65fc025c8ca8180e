// `tapgate run -c FILE`: check, then serve: a master with workers, or (with
// `workers: 0` or `--single`) one in-process worker for development.
import { parseArgs } from 'node:util';
import { ConfigError, serve, type RunningGateway } from '../serve.ts';
import { renderProblems } from './check.ts';
import type { CliWiring } from './main.ts';

export async function run(argv: string[], wiring: CliWiring): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, single: { type: 'boolean', default: false } } });
  if (!values.config) {
    process.stderr.write('tapgate run: -c FILE is required\n');
    return 2;
  }
  let gateway: RunningGateway;
  try {
    gateway = await serve({ config: values.config, plugins: await wiring.builtins(), workers: values.single ? undefined : wiring.worker, signals: true });
  } catch (err) {
    if (err instanceof ConfigError) process.stderr.write(renderProblems(err.problems, err.file, false));
    else process.stderr.write(`tapgate: ${(err as Error).message}\n`);
    return 1;
  }
  await gateway.closed;
  return 0;
}
