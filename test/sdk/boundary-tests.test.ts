// The built-ins are tested as a user tests a plugin: a file under test/plugins/ imports
// the SDK (`tapgate/sdk`), its harness (`tapgate/sdk/testing`), Node's modules, the
// packages package.json lists, other files under test/plugins/, and the source of the
// plugin it tests (test/plugins/<name>/ may import plugins/<name>/, as a user's test
// imports its own plugin). Nothing else: no kernel, no private harness, no other
// built-in, no SDK file by a path of its own.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../../', import.meta.url));
const testsOfPlugins = join(root, 'test', 'plugins');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; devDependencies?: Record<string, string> };
const packages = new Set([...Object.keys(pkg.dependencies ?? {}), ...Object.keys(pkg.devDependencies ?? {})]);

/** Why `file` may not import `specifier`, or undefined when it may. */
function refusal(file: string, specifier: string): string | undefined {
  if (specifier.startsWith('node:')) return undefined;
  if (specifier === 'tapgate/sdk' || specifier === 'tapgate/sdk/testing') return undefined;
  if (specifier.startsWith('.')) {
    const target = relative(root, resolve(dirname(file), specifier)).split(sep);
    if (target[0] === 'test' && target[1] === 'plugins' && !target.includes('..')) return undefined;
    const tested = relative(testsOfPlugins, file).split(sep)[0];
    if (target[0] === 'plugins' && target.length > 2 && target[1] === tested) return undefined;
    return `${target.join('/')} is neither under test/plugins/ nor the source of plugins/${tested}/`;
  }
  const name = specifier.startsWith('@') ? specifier.split('/').slice(0, 2).join('/') : specifier.split('/')[0]!;
  if (name === 'tapgate') return 'tapgate/sdk and tapgate/sdk/testing are the only ways into tapgate';
  if (!packages.has(name)) return `${name} is not a package package.json lists`;
  return undefined;
}

/** Every import, export-from and import() of a module's own code (not of sources inside its strings). */
function importsOf(file: string): string[] {
  return ts.preProcessFile(readFileSync(file, 'utf8'), true, true).importedFiles.map((f) => f.fileName);
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return /\.(ts|mts|js|mjs)$/.test(e.name) ? [path] : [];
  });
}

describe('the built-ins are tested through the SDK', () => {
  it('every file under test/plugins imports only the SDK, its harness, Node, listed packages, test/plugins and the plugin it tests', () => {
    const files = sources(testsOfPlugins);
    assert.ok(files.length >= 50, `found ${files.length} files under test/plugins`);
    const refused: string[] = [];
    for (const file of files) {
      for (const specifier of importsOf(file)) {
        const why = refusal(file, specifier);
        if (why) refused.push(`${relative(root, file)}: ${specifier}: ${why}`);
      }
    }
    assert.deepEqual(refused, []);
  });

  it('refuses the kernel, the private helpers, another built-in and the SDK by path', () => {
    const file = join(testsOfPlugins, 'cache', 'x.test.ts');
    for (const specifier of [
      '../../../core/log.ts',
      '../../helpers/gateway.ts',
      '../../../plugins/index.ts',
      '../../../plugins/lb/hashing.ts',
      '../../../sdk/index.ts',
      '../../../sdk/testing.ts',
      'tapgate',
      'tapgate/core/log.ts',
      'left-pad',
    ]) {
      assert.ok(refusal(file, specifier), specifier);
    }
    for (const specifier of [
      'node:http',
      'tapgate/sdk',
      'tapgate/sdk/testing',
      './fixture.ts',
      '../route-actions/fixture.ts',
      '../../../plugins/cache/store.ts',
      'jose',
      '@grpc/grpc-js',
    ]) {
      assert.equal(refusal(file, specifier), undefined, specifier);
    }
  });

  it('reads imports of every form, and not those in a plugin written as a string', () => {
    const found = ts
      .preProcessFile(
        "import a from 'a';\nimport type { B } from 'b';\nexport { c } from 'c';\nimport 'd';\nconst e = await import('e');\nconst source = `import { f } from 'f';`;\n",
        true,
        true,
      )
      .importedFiles.map((f) => f.fileName);
    assert.deepEqual(found, ['a', 'b', 'c', 'd', 'e']);
  });
});
