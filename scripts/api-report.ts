// `npm run api:report`: the package's public surface, one API Extractor report per
// TypeScript entry of package.json's "exports" (tapgate, tapgate/sdk, tapgate/sdk/testing),
// written to sdk/api/. test/sdk/api-report.test.ts compares a fresh one with those files,
// so a change to the contract shows in a diff and is committed on purpose.
//
// API Extractor reads declaration files: the TypeScript compiler emits them first, for the
// entries and the files their declarations import, keeping the sources' `.ts` paths.
import { CompilerState, Extractor, ExtractorConfig, ExtractorLogLevel } from '@microsoft/api-extractor';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));

/** Where the reports are checked in. */
export const reportDir = join(root, 'sdk', 'api');

/** The reports of the sources as they are now, by file name (`tapgate-sdk.api.md`). */
export function generateReports(): Map<string, string> {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string; exports: Record<string, unknown> };
  // `./register` is a loader, not an API.
  const entries = Object.entries(pkg.exports)
    .filter((e): e is [string, string] => typeof e[1] === 'string' && e[1].endsWith('.ts'))
    .map(([subpath, target]) => ({ name: `${pkg.name}${subpath.slice(1)}`, source: join(root, target) }));
  const work = mkdtempSync(join(tmpdir(), 'tapgate-api-'));
  try {
    const dts = join(work, 'dts');
    const declarationOf = (source: string) => join(dts, relative(root, source)).replace(/\.ts$/, '.d.ts');
    emitDeclarations(
      entries.map((e) => e.source),
      dts,
    );
    const reports = new Map<string, string>();
    let compilerState: CompilerState | undefined;
    for (const { name, source } of entries) {
      const reportFileName = `${name.replaceAll('/', '-')}.api.md`;
      const config = extractorConfig(
        name,
        declarationOf(source),
        entries.map((e) => declarationOf(e.source)),
        dts,
        join(work, 'report'),
        reportFileName,
      );
      // One program for every entry.
      compilerState ??= CompilerState.create(config);
      const problems: string[] = [];
      const result = Extractor.invoke(config, {
        localBuild: true,
        compilerState,
        messageCallback(message) {
          if (message.logLevel === ExtractorLogLevel.Error) problems.push(message.formatMessageWithLocation(work));
          message.handled = true;
        },
      });
      if (!result.succeeded || problems.length > 0) throw new Error(`api-report: API Extractor failed on ${name}:\n${problems.join('\n')}`);
      const text = readFileSync(join(work, 'report', reportFileName), 'utf8');
      reports.set(reportFileName, text.replace(/^## API Report File for "[^"]*"/, `## API Report File for "${name}"`));
    }
    return reports;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Emits under `out` (mirroring the tree) the declarations of `sources` and of the files they reach. */
function emitDeclarations(sources: string[], out: string): void {
  const program = ts.createProgram(sources, {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    allowImportingTsExtensions: true,
    verbatimModuleSyntax: true,
    skipLibCheck: true,
    types: ['node'],
    declaration: true,
    emitDeclarationOnly: true,
    rootDir: root,
    outDir: out,
  });
  // Only what the surface reaches: every file of the program would take twice as long.
  const queue = [...sources];
  const seen = new Set(queue);
  while (queue.length > 0) {
    const file = queue.shift()!;
    const source = program.getSourceFile(file);
    if (!source) throw new Error(`api-report: ${relative(root, file)} is not part of the program`);
    let text = '';
    const result = program.emit(
      source,
      (name, data) => {
        mkdirSync(dirname(name), { recursive: true });
        writeFileSync(name, data);
        text = data;
      },
      undefined,
      true,
    );
    if (result.diagnostics.length > 0) {
      const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
      throw new Error(`api-report: ${ts.formatDiagnostics(result.diagnostics, host)}`);
    }
    for (const [, specifier] of text.matchAll(/(?:from|import\()\s*['"](\.{1,2}\/[^'"]+)['"]/g)) {
      const target = resolve(dirname(file), specifier!);
      if (!seen.has(target)) {
        seen.add(target);
        queue.push(target);
      }
    }
  }
}

function extractorConfig(name: string, entry: string, allEntries: string[], dts: string, out: string, reportFileName: string): ExtractorConfig {
  return ExtractorConfig.prepare({
    configObject: {
      projectFolder: dts,
      mainEntryPointFilePath: entry,
      compiler: {
        overrideTsconfig: {
          compilerOptions: {
            module: 'nodenext',
            moduleResolution: 'nodenext',
            allowImportingTsExtensions: true,
            strict: true,
            skipLibCheck: true,
            noEmit: true,
            types: ['node'],
            typeRoots: [join(root, 'node_modules', '@types')],
          },
          files: allEntries,
        },
      },
      // Declarations the surface uses without exporting them are part of the contract too:
      // they show without `export`.
      apiReport: { enabled: true, reportFileName, reportFolder: out, reportTempFolder: join(out, 'temp'), includeForgottenExports: true },
      docModel: { enabled: false },
      dtsRollup: { enabled: false },
      tsdocMetadata: { enabled: false },
      newlineKind: 'lf',
      messages: {
        // A declaration the compiler cannot read would be missing from the report.
        compilerMessageReporting: { default: { logLevel: ExtractorLogLevel.Error } },
        // Advice on documentation and release tags is for projects following API Extractor's conventions.
        extractorMessageReporting: { default: { logLevel: ExtractorLogLevel.None, addToApiReportFile: false } },
        tsdocMessageReporting: { default: { logLevel: ExtractorLogLevel.None, addToApiReportFile: false } },
      },
    },
    configObjectFullPath: undefined,
    packageJsonFullPath: join(root, 'package.json'),
  });
}

/**
 * How `reports` differ from the ones in `dir`: a unified diff per changed file, a line per
 * file added or gone; empty when they are the same.
 */
export function compareReports(reports: ReadonlyMap<string, string>, dir = reportDir): string {
  const shown = (file: string) => (dir.startsWith(root) ? relative(root, join(dir, file)) : join(dir, file));
  const checkedIn = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.api.md')) : [];
  const out: string[] = [];
  for (const file of [...new Set([...reports.keys(), ...checkedIn])].sort()) {
    const now = reports.get(file);
    const before = existsSync(join(dir, file)) ? readFileSync(join(dir, file), 'utf8') : undefined;
    if (now === before) continue;
    if (now === undefined) out.push(`${shown(file)}: no package export has this report any more`);
    else if (before === undefined) out.push(`${shown(file)}: not checked in yet`);
    else out.push(unifiedDiff(join(dir, file), shown(file), now));
  }
  return out.join('\n');
}

function unifiedDiff(file: string, shown: string, now: string): string {
  const work = mkdtempSync(join(tmpdir(), 'tapgate-api-diff-'));
  try {
    writeFileSync(join(work, 'now'), now);
    const diff = spawnSync('diff', ['-u', '--label', `${shown} (checked in)`, '--label', `${shown} (the sources now)`, file, join(work, 'now')], {
      encoding: 'utf8',
    });
    return diff.status === 1 ? diff.stdout : `${shown} differs (diff, to show how, did not run: ${diff.error?.message ?? diff.stderr})`;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** Writes `reports` to `dir`, removing reports of exports that are gone. */
export function writeReports(reports: ReadonlyMap<string, string>, dir = reportDir): void {
  mkdirSync(dir, { recursive: true });
  for (const file of readdirSync(dir)) if (file.endsWith('.api.md') && !reports.has(file)) rmSync(join(dir, file));
  for (const [file, text] of reports) writeFileSync(join(dir, file), text);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const reports = generateReports();
  writeReports(reports);
  console.log(`api-report: wrote ${[...reports.keys()].map((f) => relative(root, join(reportDir, f))).join(', ')}`);
}
