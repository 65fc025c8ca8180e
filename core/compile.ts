// Compile a TypeScript (or modern JS) plugin or config with esbuild into the project's
// cache folder, so `import()` can load it. `tapgate` and `tapgate/sdk` resolve to the
// running gateway's own SDK: a plugin shares its types and helpers with the kernel.
import { build, type Message, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

// Prebundled workers get the SDK as JavaScript (they run without a TypeScript loader).
const sdkEntry = process.env.TAPGATE_SDK_FILE ?? fileURLToPath(new URL('../sdk/index.ts', import.meta.url));

const sdkResolver: Plugin = {
  name: 'tapgate-sdk',
  setup(b) {
    b.onResolve({ filter: /^tapgate(\/sdk)?$/ }, () => ({ path: pathToFileURL(sdkEntry).href, external: true }));
  },
};

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
