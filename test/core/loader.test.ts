// Loading plugins from files outside the installation, as a user's project has them: in a
// folder under the system's temp folder, where neither this repository's package.json nor
// its node_modules apply. The real CLI runs as a child process.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { supportsGateway } from '../../core/loader.ts';
import { root } from '../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const version: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
const homes: string[] = [];

after(() => {
  for (const home of homes) rmSync(home, { recursive: true, force: true });
});

/** Writes `files` (path -> text) into a fresh folder outside the repository; returns the folder. */
function project(files: Record<string, string>): string {
  const home = mkdtempSync(join(tmpdir(), 'tapgate-loader-'));
  homes.push(home);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(home, name)), { recursive: true });
    writeFileSync(join(home, name), text);
  }
  return home;
}

function tapgate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: tmpdir() }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** A config whose top-level plugins are `uses`, in order from line 2; nothing behind the backend. */
function configUsing(uses: string[]): string {
  return `plugins:\n${uses.map((u) => `  - ${u}\n`).join('')}workers: 1
frontends:
  web: { bind: 127.0.0.1:0, default_backend: app }
backends:
  app: { servers: [ { name: a, address: 127.0.0.1:9 } ] }
`;
}

describe('gateway ranges', () => {
  it('are npm semver ranges: ^0.x, ~1, x-ranges and hyphens mean what npm says', () => {
    const cases: [range: string, version: string, admitted: boolean][] = [
      ['^0.x', '0.5.1', true],
      ['^0', '0.9.0', true],
      ['^0.1', '0.1.7', true],
      ['^0.1', '0.2.0', false],
      ['^0.0.3', '0.0.4', false],
      ['~1', '1.4.2', true],
      ['~1', '2.0.0', false],
      ['~1.2', '1.3.0', false],
      ['1.x', '1.3.0', true],
      ['0.1.0 - 0.3.0', '0.2.9', true],
      ['>=0.1 <0.3 || ^1', '1.2.0', true],
      ['>=0.1 <0.3 || ^1', '0.3.0', false],
    ];
    for (const [range, at, admitted] of cases) assert.equal(supportsGateway(range, at), admitted, `${range} at ${at}`);
  });

  it('a prerelease gateway counts as the release it leads to', () => {
    assert.equal(supportsGateway('^0.2', '0.2.0-rc.1'), true);
    assert.equal(supportsGateway('>=0.2.0', '0.2.0-rc.1'), true);
    assert.equal(supportsGateway('^0.1', '0.2.0-rc.1'), false);
  });

  it('check admits a plugin whose range admits this gateway, and names the others', async () => {
    const major = Number(version.split('.')[0]);
    const plugin = (name: string, gateway: string) =>
      `export default { name: '${name}', version: '1.0.0', gateway: ${JSON.stringify(gateway)}, setup() {} };\n`;
    const home = project({
      // With this gateway at 0.y.z, the first two are the ranges a hand-written check got wrong.
      'caret-x.mjs': plugin('caret-x', `^${major}.x`),
      'tilde.mjs': plugin('tilde', `~${major}`),
      'next.mjs': plugin('next', `~${major + 1}`),
      'nonsense.mjs': plugin('nonsense', 'soon'),
      'tapgate.yaml': configUsing(['./caret-x.mjs', './tilde.mjs', './next.mjs', './nonsense.mjs']),
    });
    const config = join(home, 'tapgate.yaml');
    const { code, stdout } = await tapgate('check', '-c', config, '--no-probe');
    assert.equal(code, 1);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `${config}:4:5: error: plugins[2]: plugin "next" needs gateway ~${major + 1}, but this is tapgate ${version}`,
      `${config}:5:5: error: plugins[3]: plugin "nonsense" has gateway "soon", which is not a semver range (for example "^0.1" or ">=0.1 <2")`,
      `${config}: 2 errors, 0 warnings`,
    ]);
  });
});
