// Compile a plugin or config (TypeScript or JavaScript, ESM or CommonJS) with esbuild into
// the project's cache folder, so `import()` can load it: one ES module holding the file
// and the files it imports. `tapgate` and `tapgate/sdk` resolve to the running gateway's
// own SDK, wherever the file is: a plugin shares its types and helpers with the kernel.
import type { Message, Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { binary, findEsbuild } from './binary.ts';
import * as sdk from '../sdk/index.ts';

// A compiled file's `tapgate/sdk` is a module reading the kernel's own SDK object from
// this global: there is no SDK file to import inside the binary, and a file outside the
// installation could not find one (nor could CommonJS require it).
const sdkGlobal = Symbol.for('tapgate.sdk');
(globalThis as Record<symbol, unknown>)[sdkGlobal] = sdk;

const sdkResolver: Plugin = {
  name: 'tapgate-sdk',
  setup(b) {
    b.onResolve({ filter: /^tapgate(\/sdk)?$/ }, () => ({ path: 'tapgate/sdk', namespace: 'tapgate-sdk' }));
    b.onLoad({ filter: /.*/, namespace: 'tapgate-sdk' }, () => ({
      contents: `const sdk = globalThis[Symbol.for('tapgate.sdk')];\nexport const { ${Object.keys(sdk).join(', ')} } = sdk;\n`,
      loader: 'js',
    }));
  },
};

// Packages stay outside the bundle, which runs from the cache folder: each is resolved
// from the folder of the file importing it, as Node would there, and imported by path.
const resolving = Symbol('resolving');
const packageResolver: Plugin = {
  name: 'packages',
  setup(b) {
    b.onResolve({ filter: /^[^./]/ }, async (args) => {
      if (args.pluginData === resolving) return undefined;
      const found = await b.resolve(args.path, { kind: args.kind, importer: args.importer, resolveDir: args.resolveDir, pluginData: resolving });
      // Node builtins; and what esbuild cannot find is left for Node to report when it runs.
      if (found.external || found.errors.length > 0) return { path: found.external ? found.path : args.path, external: true };
      const required = args.kind === 'require-call' || args.kind === 'require-resolve';
      return { path: required ? found.path : pathToFileURL(found.path).href, external: true };
    });
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
  const given = handedOver.get(file);
  if (given !== undefined && existsSync(given)) return given;
  const text = await bundle(file);
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const out = join(outDir, `${basename(file).replace(/\.[^.]+$/, '')}-${hash}.mjs`);
  if (!existsSync(out)) writeFileSync(out, text);
  compiled.set(file, out);
  return out;
}

/** What this process compiled last, file by file: a master hands it to the workers it forks. */
const compiled = new Map<string, string>();

/**
 * What the master compiled when it checked the generation a worker serves (TAPGATE_COMPILED):
 * the worker loads those outputs as they are, without esbuild. A worker then serves the code
 * its master checked, even if a file changed since, and starts without a compiler of its own
 * (about a fifth of a worker's start, for a TypeScript plugin).
 */
const handedOver = new Map<string, string>(handed(process.env.TAPGATE_COMPILED));

/** A worker reloading in place: from now on it loads what its master compiled for the next generation (`compiledEnv()` there). */
export function handOver(env: { TAPGATE_COMPILED?: string }): void {
  handedOver.clear();
  for (const [file, out] of handed(env.TAPGATE_COMPILED)) handedOver.set(file, out);
}

/** Every file this process has compiled, and its latest output. */
export function compiledFiles(): ReadonlyMap<string, string> {
  return new Map(compiled);
}

function handed(text: string | undefined): [string, string][] {
  try {
    const entries: unknown = text ? JSON.parse(text) : [];
    return Array.isArray(entries) ? entries.filter((e): e is [string, string] => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string') : [];
  } catch {
    return [];
  }
}

/**
 * The environment a worker needs to load what this process compiled (see handedOver);
 * nothing when it would not fit in one environment variable (Linux takes 128 KiB): the
 * workers then compile for themselves.
 */
export function compiledEnv(): { TAPGATE_COMPILED?: string } {
  const text = JSON.stringify([...compiled]);
  return text.length <= 100_000 ? { TAPGATE_COMPILED: text } : {};
}

let building = 0;
let idleStop: NodeJS.Timeout | undefined;

/**
 * Runs `fn` with esbuild. Its API keeps a service process running once started (about
 * 70 MB of RSS beside the master, for as long as the gateway runs): a second after the
 * last build it is stopped, and the next build (a reload's check) starts it again, which
 * takes a few milliseconds.
 */
export async function withEsbuild<T>(fn: (esbuild: typeof import('esbuild')) => Promise<T>): Promise<T> {
  clearTimeout(idleStop);
  building++;
  try {
    const esbuild = await import('esbuild');
    try {
      return await fn(esbuild);
    } finally {
      if (building === 1) idleStop = setTimeout(() => building === 0 && void esbuild.stop(), 1000).unref();
    }
  } finally {
    building--;
  }
}

async function bundle(file: string): Promise<string> {
  const missing = missingEsbuild();
  if (missing) throw new CompileError(file, undefined, undefined, missing.message, 0);
  try {
    const result = await withEsbuild(({ build }) =>
      build({
        entryPoints: [file],
        bundle: true,
        write: false,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        // Node's conditions only: esbuild adds `module` unless told otherwise.
        conditions: [],
        plugins: [sdkResolver, packageResolver],
        // Where the bundle came from, for code that finds files beside itself: the file
        // compiled (also in the files it imports, which share the bundle).
        define: {
          'import.meta.url': JSON.stringify(pathToFileURL(file).href),
          'import.meta.filename': JSON.stringify(file),
          'import.meta.dirname': JSON.stringify(dirname(file)),
          __filename: JSON.stringify(file),
          __dirname: JSON.stringify(dirname(file)),
        },
        // CommonJS code keeps its require() (for packages and builtins) inside an ES module.
        banner: { js: "import { createRequire as __tapgateCreateRequire } from 'node:module';\nconst require = __tapgateCreateRequire(import.meta.url);" },
        logLevel: 'silent',
        sourcemap: 'inline',
        outfile: 'out.mjs',
      }),
    );
    return result.outputFiles[0]!.text;
  } catch (err) {
    const errors = (err as { errors?: Message[] }).errors;
    if (!errors?.length) throw err;
    // esbuild's paths are relative to the working directory, its columns 0-based.
    const at = errors[0]!.location;
    throw new CompileError(at ? resolve(at.file) : file, at?.line, at ? at.column + 1 : undefined, errors[0]!.text, errors.length - 1);
  }
}
