// Compile a TypeScript (or modern JS) plugin or config with esbuild into the project's
// cache folder, so `import()` can load it. `tapgate` and `tapgate/sdk` resolve to the
// running gateway's own SDK: a plugin shares its types and helpers with the kernel.
import { build, type Plugin } from 'esbuild';
import { createHash } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const sdkEntry = fileURLToPath(new URL('../sdk/index.ts', import.meta.url));

const sdkResolver: Plugin = {
  name: 'tapgate-sdk',
  setup(b) {
    b.onResolve({ filter: /^tapgate(\/sdk)?$/ }, () => ({ path: pathToFileURL(sdkEntry).href, external: true }));
  },
};

/**
 * Returns the path of the compiled module. The name carries a hash of the output, so a
 * changed file (or a file it imports) is loaded anew on reload, and an unchanged one is
 * not loaded twice.
 */
export async function compileModule(file: string, outDir: string): Promise<string> {
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
  const text = result.outputFiles[0]!.text;
  const hash = createHash('sha256').update(text).digest('hex').slice(0, 12);
  const out = join(outDir, `${basename(file).replace(/\.[^.]+$/, '')}-${hash}.mjs`);
  if (!existsSync(out)) writeFileSync(out, text);
  return out;
}
