#!/usr/bin/env node
// `npm run build:binary`: the gateway as one executable, dist/tapgate (a Node single
// executable application). esbuild bundles the CLI, built-in plugins and dependencies
// into one CommonJS file (what SEA runs on Node 20), node makes it a blob, postject
// injects the blob into a copy of this node binary. dist/esbuild is the esbuild
// executable the binary compiles TypeScript plugins and configs with (core/binary.ts).
import { build, version as esbuildVersion } from 'esbuild';
import { inject } from 'postject';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const dist = join(root, 'dist');
const work = join(dist, '.build');
const exe = process.platform === 'win32' ? '.exe' : '';
const output = join(dist, `tapgate${exe}`);
const started = Date.now();

if (process.platform !== 'linux') {
  // macOS needs the signature removed and re-added around injection, Windows a signtool step.
  console.warn(`build-binary: only tested on Linux (this is ${process.platform}); see https://nodejs.org/api/single-executable-applications.html`);
}

rmSync(work, { recursive: true, force: true });
mkdirSync(work, { recursive: true });

// `tapgate check` type-checks with the typescript package against the SDK's sources; the
// binary carries neither, so there typescript fails to load and check warns it did not type-check.
const withoutTypescript = {
  name: 'without-typescript',
  setup(b) {
    b.onResolve({ filter: /^typescript$/ }, () => ({ path: 'typescript', namespace: 'without-typescript' }));
    b.onLoad({ filter: /.*/, namespace: 'without-typescript' }, () => ({
      contents: "throw new Error('the gateway binary does not carry the TypeScript compiler');",
    }));
  },
};

const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const bundle = join(work, 'tapgate.cjs');
await build({
  stdin: {
    contents: "import { main } from './entry/cli.ts';\nmain(process.argv.slice(2)).then((code) => { process.exitCode = code; });\n",
    resolveDir: root,
    sourcefile: 'binary-main.ts',
    loader: 'ts',
  },
  outfile: bundle,
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  // core/binary.ts: tells the kernel it runs from the binary, and which esbuild it carries the API of.
  define: { TAPGATE_BINARY: JSON.stringify({ version, esbuild: esbuildVersion }) },
  plugins: [withoutTypescript],
  // import.meta.url is only read on paths the binary does not take (core/binary.ts), and
  // esbuild's API resolves its own package only when ESBUILD_BINARY_PATH is unset.
  logOverride: { 'empty-import-meta': 'silent', 'require-resolve-not-external': 'silent' },
  logLevel: 'warning',
});

const blob = join(work, 'tapgate.blob');
const seaConfig = join(work, 'sea-config.json');
writeFileSync(seaConfig, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true }, null, 2));
execFileSync(process.execPath, ['--experimental-sea-config', seaConfig], { stdio: ['ignore', 'ignore', 'inherit'] });

rmSync(output, { force: true });
copyFileSync(process.execPath, output);
chmodSync(output, 0o755);
await inject(output, 'NODE_SEA_BLOB', readFileSync(blob), {
  sentinelFuse: 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
  machoSegmentName: process.platform === 'darwin' ? 'NODE_SEA' : undefined,
});

// The esbuild executable matching the bundled API, from esbuild's platform package.
const platformPackage = createRequire(createRequire(import.meta.url).resolve('esbuild')).resolve(`@esbuild/${process.platform}-${process.arch}/package.json`);
const esbuildExe = join(dist, `esbuild${exe}`);
rmSync(esbuildExe, { force: true });
copyFileSync(join(dirname(platformPackage), exe ? `esbuild${exe}` : 'bin/esbuild'), esbuildExe);
chmodSync(esbuildExe, 0o755);
rmSync(work, { recursive: true, force: true });

const mb = (file) => `${(statSync(file).size / 1024 / 1024).toFixed(1)} MB`;
console.log(
  `${relative(process.cwd(), output) || output} (${mb(output)}, tapgate ${version}, node ${process.version}) and ${relative(process.cwd(), esbuildExe)} (${mb(esbuildExe)}, esbuild ${esbuildVersion}) in ${((Date.now() - started) / 1000).toFixed(1)} s`,
);
