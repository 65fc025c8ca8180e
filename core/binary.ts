// Whether this code runs inside the single-executable gateway (scripts/build-binary.mjs),
// which defines TAPGATE_BINARY at build time; from the sources it is undefined. The
// binary carries no package.json, no TypeScript sources and no node_modules: esbuild's
// JavaScript API is inside, its executable is not.
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';

declare const TAPGATE_BINARY: BinaryBuild | undefined;

export interface BinaryBuild {
  /** The gateway's version (package.json at build time). */
  version: string;
  /** The esbuild version whose API is bundled: its executable must match. */
  esbuild: string;
}

export const binary: BinaryBuild | undefined = typeof TAPGATE_BINARY === 'object' ? TAPGATE_BINARY : undefined;

/**
 * The esbuild executable the binary compiles TypeScript with: `esbuild` beside the binary,
 * else on PATH, of the bundled API's version. Throws, saying what to do, when there is none.
 */
export function findEsbuild(build: BinaryBuild): string {
  const name = process.platform === 'win32' ? 'esbuild.exe' : 'esbuild';
  const candidates = [dirname(process.execPath), ...(process.env.PATH ?? '').split(delimiter).filter(Boolean)].map((dir) => join(dir, name));
  const wrong: string[] = [];
  for (const file of candidates) {
    if (!existsSync(file)) continue;
    let version: string;
    try {
      version = execFileSync(file, ['--version'], { encoding: 'utf8', timeout: 10_000 }).trim();
    } catch {
      continue;
    }
    if (version === build.esbuild) return file;
    wrong.push(`${file} is ${version}`);
  }
  throw new Error(
    `compiling TypeScript (and bundling plugins) needs esbuild ${build.esbuild}, ` +
      (wrong.length ? `but ${wrong.join(', ')}` : `found neither beside the gateway (${join(dirname(process.execPath), name)}) nor on PATH`) +
      `; put the one from the release beside the binary, or run \`npm install esbuild@${build.esbuild}\` and copy node_modules/@esbuild/${process.platform}-${process.arch}/bin/${name} there` +
      ' (plain .js/.mjs plugins load without it)',
  );
}
