// `tapgate check` type-checks TypeScript plugins (esbuild, which runs them, does not):
// a type error is an error at its file, line and column; --no-types skips it.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, tempDir } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

function project(plugin: string): string {
  const dir = tempDir();
  dirs.push(dir);
  writeFileSync(join(dir, 'tag.ts'), plugin);
  writeFileSync(
    join(dir, 'tapgate.yaml'),
    'frontends:\n  web:\n    bind: 127.0.0.1:0\n    default_backend: app\n    plugins: [./tag.ts]\nbackends:\n  app: { servers: [{ name: s, address: 127.0.0.1:1 }] }\n',
  );
  return dir;
}

const good = `import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'tag',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.upstreamRequest.tap('tag', (ctx) => {
      ctx.upstream!.headers['x-tag'] = ctx.path;
    });
  },
});
`;
const bad = good.replace('ctx.path;', 'ctx.paht.length;');

describe('tapgate check: TypeScript types', () => {
  it('passes a well-typed plugin', () => {
    const run = spawnSync(process.execPath, [bin, 'check', '--no-probe', '-c', join(project(good), 'tapgate.yaml')], { encoding: 'utf8' });
    assert.equal(run.status, 0, run.stdout + run.stderr);
  });

  it('reports a type error at its file, line and column, and --no-types skips the check', () => {
    const dir = project(bad);
    const run = spawnSync(process.execPath, [bin, 'check', '--no-probe', '-c', join(dir, 'tapgate.yaml')], { encoding: 'utf8' });
    assert.equal(run.status, 1, run.stdout);
    assert.match(
      run.stdout,
      new RegExp(
        `${join(dir, 'tag.ts').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:7:44: error: type error TS2339: Property 'paht' does not exist on type 'HttpContext'`,
      ),
    );
    const skipped = spawnSync(process.execPath, [bin, 'check', '--no-probe', '--no-types', '-c', join(dir, 'tapgate.yaml')], { encoding: 'utf8' });
    assert.equal(skipped.status, 0, skipped.stdout);
  });
});
