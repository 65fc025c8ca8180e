// The built-ins reach the kernel through entry/ alone: no file of the kernel imports
// plugins/, and the examples run a gateway the public way, never through core/.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** Every relative module specifier of the TypeScript files under `folder`, resolved, with the file importing it. */
function imports(folder: string): { file: string; target: string }[] {
  const found: { file: string; target: string }[] = [];
  for (const name of readdirSync(join(root, folder), { recursive: true }) as string[]) {
    if (!name.endsWith('.ts')) continue;
    const file = join(root, folder, name);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.[^']+)'/g))
      found.push({ file: relative(root, file), target: relative(root, resolve(dirname(file), m[1]!)) });
  }
  return found;
}

describe('wiring', () => {
  it('no file under core/ imports plugins/', () => {
    const all = imports('core');
    assert.ok(
      all.some((i) => i.target.startsWith('sdk/')),
      'the scan finds the kernel importing the SDK',
    );
    assert.deepEqual(
      all.filter((i) => i.target.startsWith('plugins/')),
      [],
    );
  });

  it('only entry/ hands plugins/index.ts to the kernel, and the examples import no kernel file', () => {
    assert.ok(imports('entry').some((i) => i.target === 'plugins/index.ts'));
    assert.deepEqual(
      imports('examples').filter((i) => i.target.startsWith('core/')),
      [],
    );
  });
});
