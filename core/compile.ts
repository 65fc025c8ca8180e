// Compile a TypeScript (or modern JS) plugin or config with esbuild into the project's
// cache folder, so `import()` can load it. `tapgate` and `tapgate/sdk` resolve to the
// running gateway's own SDK: a plugin shares its types and helpers with the kernel.
import type { Message, Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { binary, findEsbuild } from './binary.ts';
import * as sdk from '../sdk/index.ts';

// Inside the binary there is no SDK file to import: a plugin's `tapgate/sdk` becomes a
// module reading the kernel's own SDK object from this global.
const sdkGlobal = Symbol.for('tapgate.sdk');
if (binary) (globalThis as Record<symbol, unknown>)[sdkGlobal] = sdk;

const sdkResolver: Plugin = {
  name: 'tapgate-sdk',
  setup(b) {
    if (binary) {
      b.onResolve({ filter: /^tapgate(\/sdk)?$/ }, () => ({ path: 'tapgate/sdk', namespace: 'tapgate-sdk' }));
      b.onLoad({ filter: /.*/, namespace: 'tapgate-sdk' }, () => ({
        contents: `const sdk = globalThis[Symbol.for('tapgate.sdk')];\nexport const { ${Object.keys(sdk).join(', ')} } = sdk;\n`,
        loader: 'js',
      }));
      return;
    }
    // Prebundled workers get the SDK as JavaScript (they run without a TypeScript loader).
    const sdkEntry = process.env.TAPGATE_SDK_FILE ?? fileURLToPath(new URL('../sdk/index.ts', import.meta.url));
    b.onResolve({ filter: /^tapgate(\/sdk)?$/ }, () => ({ path: pathToFileURL(sdkEntry).href, external: true }));
  },
};

/** Whether plugins and configs can be compiled: always from the sources; in the binary, with an esbuild executable. */
export function canCompile(): boolean {
  return !missingEsbuild();
}

// esbuild's API reads ESBUILD_BINARY_PATH when it loads: inside the binary, set it first.
function missingEsbuild(): Error | undefined {
  if (!binary || process.env.ESBUILD_BINARY_PATH) return undefined;
  try {
    process.env.ESBUILD_BINARY_PATH = findEsbuild(binary);
    return undefined;
  } catch (err) {
    return err as Error;
  }
}

/** esbuild refused a file: where the first error is (1-based line and column), and what it says. */
export class CompileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly column: number | undefined,
    readonly text: string,
    /** Errors after the first. */
    readonly more: number,
  ) {
    super(`${line ? `${file}:${line}:${column}` : file}: ${text}${more ? ` (and ${more} more error${more === 1 ? '' : 's'})` : ''}`);
    this.name = 'CompileError';
  }
}

/**
 * Returns the path of the compiled module, or throws a CompileError. The name carries a
 * hash of the output, so a changed file (or a file it imports) is loaded anew on reload,
 * and an unchanged one is not loaded twice.
 */
export async function compileModule(file: string, outDir: string): Promise<string> {
  const text = await bundle(file);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const out = join(outDir, `${basename(file).replace(/\.[^.]+$/, '')}-${hash}.mjs`);
  if (!existsSync(out)) writeFileSync(out, text);
  return out;
}

async function bundle(file: string): Promise<string> {
  const missing = missingEsbuild();
  if (missing) throw new CompileError(file, undefined, undefined, missing.message, 0);
  const { build } = await import('esbuild');
  try {
    const result = await build({
      entryPoints: [file],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      packages: 'external',
      plugins: [sdkResolver],
      logLevel: 'silent',
      sourcemap: 'inline',
      outfile: 'out.mjs',
    });
    return result.outputFiles[0]!.text;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (!errors?.length) throw err;
    // esbuild's paths are relative to the working directory, its columns 0-based.
    const at = errors[0]!.location;
    throw new CompileError(at ? resolve(at.file) : file, at?.line, at ? at.column + 1 : undefined, errors[0]!.text, errors.length - 1);
  }
}
