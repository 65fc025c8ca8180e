// Type-checks a configuration's TypeScript (a `tapgate.config.ts`, `.ts` plugins) with
// the TypeScript compiler, `tapgate/sdk` resolved to this gateway's SDK: esbuild, which
// compiles them to run, strips types without checking them. Used by `tapgate check`
// (not by reloads: a program costs a second or two). Problems name file, line, column.
import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import type { GatewayConfig } from '../../sdk/config.ts';
import type { Problem } from './problems.ts';
import { installRoot } from '../version.ts';

/** The TypeScript files a configuration brings: itself when it is one, and its `.ts` plugin files. */
export function typescriptFiles(configFile: string, config: GatewayConfig | undefined): string[] {
  const dir = resolve(configFile, '..');
  const files = new Set<string>();
  if (/\.[cm]?tsx?$/.test(configFile)) files.add(resolve(configFile));
  if (config) {
    const refs = [...config.plugins, ...Object.values(config.frontends).flatMap((fe) => [...fe.plugins, ...fe.routes.flatMap((r) => r.plugins)])];
    for (const ref of refs) {
      const use = typeof ref === 'string' ? ref : ref.use;
      if (!(use.startsWith('.') || isAbsolute(use)) || !/\.[cm]?tsx?$/.test(use)) continue;
      const file = resolve(dir, use);
      if (existsSync(file)) files.add(file);
    }
  }
  return [...files];
}

/**
 * Problems the compiler finds in `files` (not in what they import from the gateway),
 * or `unavailable` when the `typescript` package cannot be loaded.
 */
export async function typecheck(files: readonly string[]): Promise<Problem[] | 'unavailable'> {
  if (files.length === 0) return [];
  let ts: typeof import('typescript');
  try {
    ts = (await import('typescript')).default;
  } catch {
    return 'unavailable';
  }
  const sdk = join(installRoot, 'sdk', 'index.ts');
  const options: import('typescript').CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    allowImportingTsExtensions: true,
    typeRoots: [join(installRoot, 'node_modules', '@types')],
    types: ['node'],
    paths: { 'tapgate/sdk': [sdk], tapgate: [sdk] },
  };
  const program = ts.createProgram([...files], options);
  const mine = new Set(files.map((f) => resolve(f)));
  const problems: Problem[] = [];
  for (const source of program.getSourceFiles()) {
    if (!mine.has(resolve(source.fileName))) continue;
    for (const d of [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)]) {
      const at = d.start === undefined ? undefined : source.getLineAndCharacterOfPosition(d.start);
      problems.push({
        severity: 'error',
        file: source.fileName,
        ...(at ? { line: at.line + 1, column: at.character + 1 } : {}),
        path: '',
        message: `type error TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
      });
    }
  }
  return problems;
}
