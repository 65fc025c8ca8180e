// The SDK boundary, as the README's "Layout" draws it: plugins -> sdk <- core, and the
// entry point alone wires the built-ins in. Every import of the tree is read (with
// TypeScript's own pre-processor, so comments and strings do not count) and held to it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = fileURLToPath(new URL('../..', import.meta.url));
const rel = (file: string) => relative(root, file).split(sep).join('/');

function sources(folder: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) {
        if (name !== 'node_modules' && !name.startsWith('.')) walk(path);
      } else if (/\.(ts|mts|cts|js|mjs|cjs)$/.test(name)) out.push(path);
    }
  };
  walk(join(root, folder));
  return out;
}

/** The imports of `file`: relative ones as paths from the root, packages by name. */
function importsOf(file: string): { files: string[]; packages: string[] } {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  const files: string[] = [];
  const packages: string[] = [];
  for (const { fileName } of info.importedFiles) {
    if (fileName.startsWith('.')) files.push(rel(resolve(dirname(file), fileName)));
    else packages.push(fileName);
  }
  return { files, packages };
}

const under = (path: string, folder: string) => path === folder || path.startsWith(`${folder}/`);

function offenders(files: string[], bad: (file: string, imported: string) => boolean): string[] {
  return files.flatMap((file) =>
    importsOf(file)
      .files.filter((imported) => bad(rel(file), imported))
      .map((imported) => `${rel(file)} -> ${imported}`),
  );
}

describe('the SDK boundary', () => {
  it('core/ imports nothing from plugins/ or entry/', () => {
    assert.deepEqual(
      offenders(sources('core'), (_, i) => under(i, 'plugins') || under(i, 'entry')),
      [],
    );
  });

  it('a built-in imports only its own folder and the SDK (never core/, another built-in or the test harness)', () => {
    const builtins = sources('plugins').filter((f) => rel(f).split('/').length > 2);
    const bad = (file: string, imported: string) => {
      const own = file.split('/').slice(0, 2).join('/');
      return !under(imported, own) && !(under(imported, 'sdk') && imported !== 'sdk/testing.ts');
    };
    assert.deepEqual(offenders(builtins, bad), []);
  });

  it("the SDK's author surface (sdk/index.ts and all it pulls in) takes nothing from core/, plugins/ or entry/", () => {
    const seen = new Set<string>();
    const reached: string[] = [];
    const visit = (path: string) => {
      if (seen.has(path)) return;
      seen.add(path);
      for (const imported of importsOf(join(root, path)).files) {
        reached.push(`${path} -> ${imported}`);
        if (under(imported, 'sdk')) visit(imported);
      }
    };
    visit('sdk/index.ts');
    assert.ok(seen.size > 3, `followed ${[...seen].join(', ')}`);
    assert.deepEqual(
      reached.filter((edge) => !/ -> sdk\//.test(edge)),
      [],
    );
    assert.ok(!seen.has('sdk/testing.ts'), 'the author surface does not pull in the test harness');
  });

  it('no example imports core/ or plugins/: they start gateways the public way', () => {
    assert.deepEqual(
      offenders(sources('examples'), (_, i) => under(i, 'core') || under(i, 'plugins')),
      [],
    );
  });
});
