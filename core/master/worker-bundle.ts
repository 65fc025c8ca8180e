// Workers start from one prebundled JavaScript file instead of loading the TypeScript
// sources through tsx: about half the CPU per worker start, which is what a reload
// costs. The SDK is bundled beside it, for user plugins importing `tapgate/sdk`.
import type { Plugin } from 'esbuild';
import { withEsbuild } from '../compile.ts';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';

export interface WorkerBundle {
  /** The worker entry to give to cluster.setupPrimary. */
  exec: string;
  /** Environment the workers need to find the project and the bundled SDK. */
  env: Record<string, string>;
  /** Every file of this bundle (entries and shared chunks). */
  files: string[];
}

/**
 * Bundles older than this that no build made since are removed when the next one is made:
 * a master touches its own before each fork (`touchBundle`), so only those of builds no
 * running master uses grow old (an installation updated in place, a checkout edited).
 */
export const staleBundleMs = 7 * 24 * 3600_000;

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Packages the bundle imports from node_modules at run time: esbuild (a native binary,
 * for plugins the worker compiles), ioredis (loaded only for a Redis store).
 */
const unbundled = ['esbuild', 'ioredis'];

/**
 * Bundles `entry`, a module that is a worker process by itself (entry/worker.ts), with
 * everything it imports from the installation. Written inside the installation, so the
 * bundle's package imports resolve from its node_modules.
 */
export async function bundleWorker(entry: string): Promise<WorkerBundle> {
  const outdir = join(root, '.tapgate', 'worker');
  mkdirSync(outdir, { recursive: true });
  const sdk = join(root, 'sdk/index.ts');
  const result = await withEsbuild(({ build }) =>
    build({
      entryPoints: { worker: entry, sdk },
      outdir,
      entryNames: '[name]-[hash]',
      outExtension: { '.js': '.mjs' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // The packages go in too (one file read, only what is used, no resolving module by
      // module); the worker and the SDK share one copy of each through split chunks.
      splitting: true,
      chunkNames: 'chunk-[hash]',
      external: [...unbundled],
      // ASCII only: V8 keeps a module's source in memory, and one character beyond Latin-1
      // (a dash in a message) makes all of it two bytes a character. esbuild escapes them in
      // code; the comments it keeps are escaped below.
      charset: 'ascii',
      // CommonJS packages keep their require() of builtins inside the ES module.
      banner: { js: "import { createRequire as __tapgateCreateRequire } from 'node:module';\nconst require = __tapgateCreateRequire(import.meta.url);" },
      metafile: true,
      logLevel: 'silent',
      plugins: [zodLocales],
    }),
  );
  // The metafile names entry points relative to the working folder.
  const outputs = Object.entries(result.metafile.outputs);
  for (const [file] of outputs) {
    const text = readFileSync(file, 'utf8');
    if (!/[^\x00-\x7f]/.test(text)) continue;
    // Renamed into place: a worker of another master starting now reads one file or the other, whole.
    const escaped = `${file}.${process.pid}.tmp`;
    writeFileSync(
      escaped,
      text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`),
    );
    renameSync(escaped, file);
  }
  const files = outputs.map(([file]) => resolve(file));
  sweepStale(outdir, new Set(files));
  const find = (file: string) => outputs.find(([, o]) => o.entryPoint !== undefined && resolve(o.entryPoint) === resolve(file))![0];
  return {
    exec: resolve(find(entry)),
    env: { TAPGATE_ROOT: root, TAPGATE_SDK_FILE: resolve(find(sdk)) },
    files,
  };
}

/** Marks a bundle as in use (a worker is about to load it): it is not stale however old the build. */
export function touchBundle(bundle: WorkerBundle): void {
  const now = new Date();
  for (const file of bundle.files) {
    try {
      utimesSync(file, now, now);
    } catch {
      // Gone (removed by hand): the fork that follows says so.
    }
  }
}

/** Removes files in `dir` that are not `keep` and were not touched for staleBundleMs (each build writes new names). */
function sweepStale(dir: string, keep: Set<string>): void {
  const before = Date.now() - staleBundleMs;
  for (const name of readdirSync(dir)) {
    const file = join(dir, name);
    if (keep.has(file)) continue;
    try {
      if (statSync(file).mtimeMs < before) rmSync(file, { force: true });
    } catch {
      // Removed meanwhile by another master's sweep.
    }
  }
}

/**
 * zod's `z` carries every locale's messages (`z.locales`: 360 KiB of the bundle, whose
 * source V8 keeps in memory, 1.5 MB of a worker's RSS); the worker keeps English, zod's
 * default, alone. A plugin wanting another locale in a worker has to import it from
 * `zod/v4/locales` itself.
 */
const zodLocales: Plugin = {
  name: 'zod-locales',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]zod[\\/]/.test(args.importer) ? { path: join(dirname(args.importer), '../locales/en.js'), namespace: 'zod-locales' } : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      resolveDir: dirname(args.path),
    }));
  },
};
