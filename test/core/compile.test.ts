// Compiling plugins and configs (core/compile.ts): esbuild's service process does not
// outlive the builds that needed it.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { compileModule } from '../../core/compile.ts';
import { tempDir } from '../helpers/gateway.ts';

/** This process's children running esbuild. */
function esbuildChildren(): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((pid) => {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid && stat.includes('(esbuild)');
      } catch {
        return false;
      }
    })
    .map(Number);
}

describe('compile', () => {
  it("stops esbuild's service process a second after the last build, and starts it again for the next", async () => {
    const dir = tempDir();
    try {
      const file = join(dir, 'plugin.ts');
      writeFileSync(file, 'export const answer: number = 42;\n');
      // Any the TypeScript loader running these tests keeps are not ours.
      const before = esbuildChildren().length;
      mkdirSync(join(dir, 'cache'));
      const out = await compileModule(file, join(dir, 'cache'));
      assert.equal((await import(out)).answer, 42);
      assert.equal(esbuildChildren().length, before + 1, 'the service runs while builds may follow');
      for (let i = 0; esbuildChildren().length > before; i++) {
        assert.ok(i < 100, 'the service is still running 5 s after the last build');
        await new Promise((r) => setTimeout(r, 50));
      }
      writeFileSync(file, 'export const answer: number = 43;\n');
      const again = await compileModule(file, join(dir, 'cache'));
      assert.equal((await import(again)).answer, 43);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
