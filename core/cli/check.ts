// `tapgate check -c FILE`: every problem at once, as text or JSON.
import { parseArgs } from 'node:util';
import { checkConfig } from '../config/check.ts';
import { formatProblem, type Problem } from '../config/problems.ts';
import { createLogger } from '../log.ts';
import { typecheck, typescriptFiles } from '../config/typecheck.ts';
import type { AnyPluginDefinition } from '../loader.ts';

export async function check(argv: string[], builtins: ReadonlyMap<string, AnyPluginDefinition>): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string', short: 'c' },
      format: { type: 'string', default: 'text' },
      'no-probe': { type: 'boolean', default: false },
      'no-types': { type: 'boolean', default: false },
    },
  });
  if (!values.config) {
    process.stderr.write('tapgate check: -c FILE is required\n');
    return 2;
  }
  const result = await checkConfig(values.config, { builtins, logger: createLogger('silent'), probeServers: !values['no-probe'] });
  if (!values['no-types']) {
    // TypeScript plugins and configs are compiled to run without their types being checked: check them here.
    const found = await typecheck(typescriptFiles(result.source.file, result.config));
    if (found === 'unavailable') {
      result.problems.push({
        severity: 'warning',
        file: result.source.file,
        path: '',
        message: 'TypeScript files were not type-checked: the typescript package is not installed (npm install --save-dev typescript), or pass --no-types',
      });
    } else if (found.length) {
      result.problems.push(...found);
      result.ok = false;
    }
  }
  const errors = result.problems.filter((p) => p.severity === 'error').length;
  const warnings = result.problems.length - errors;
  if (values.format === 'json') {
    process.stdout.write(JSON.stringify({ valid: result.ok, file: result.source.file, errors, warnings, problems: result.problems }, null, 2) + '\n');
  } else {
    process.stdout.write(renderProblems(result.problems, result.source.file, result.ok));
  }
  return result.ok ? 0 : 1;
}

export function renderProblems(problems: Problem[], file: string, ok: boolean): string {
  const errors = problems.filter((p) => p.severity === 'error').length;
  const warnings = problems.length - errors;
  const lines = problems.map(formatProblem);
  const count = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;
  lines.push(ok ? `${file}: valid${warnings ? ` (${count(warnings, 'warning')})` : ''}` : `${file}: ${count(errors, 'error')}, ${count(warnings, 'warning')}`);
  return lines.join('\n') + '\n';
}
