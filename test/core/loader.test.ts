// Loading plugins from files outside the installation, as a user's project has them: in a
// folder under the system's temp folder, where neither this repository's package.json nor
// its node_modules apply. The real CLI runs as a child process.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { supportsGateway } from '../../core/loader.ts';
import { freePort, root } from '../helpers/gateway.ts';

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
function configUsing(uses: string[], bind = '127.0.0.1:0'): string {
  return `plugins:\n${uses.map((u) => `  - ${u}\n`).join('')}workers: 1
frontends:
  web: { bind: ${bind}, default_backend: app }
backends:
  app: { servers: [ { name: a, address: 127.0.0.1:9 } ] }
`;
}

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

// A package with a file per condition: which one a plugin gets says how it was resolved.
const greeting = {
  'plugins/node_modules/greeting/package.json': JSON.stringify({
    name: 'greeting',
    exports: { module: './module.mjs', import: './import.mjs', require: './require.cjs' },
  }),
  'plugins/node_modules/greeting/module.mjs': "export const how = 'module';\n",
  'plugins/node_modules/greeting/import.mjs': "export const how = 'import';\n",
  'plugins/node_modules/greeting/require.cjs': "exports.how = 'require';\n",
};

/** An ES module plugin answering `/<name>` with what it learnt from its imports. */
const esmPlugin = (name: string) => `import { definePlugin, Stage } from 'tapgate/sdk';
import { how } from 'greeting';
import { readFileSync } from 'node:fs';
import { suffix } from './suffix.js';

const beside = readFileSync(new URL('./beside.txt', import.meta.url), 'utf8');
export default definePlugin({
  name: '${name}',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx) => {
      if (ctx.path === '/${name}') return { status: 200, body: \`${name} \${how} \${beside}\${suffix}\` };
    });
  },
});
`;

/** The same in CommonJS. */
const cjsPlugin = (name: string) => `const { definePlugin, Stage } = require('tapgate/sdk');
const { how } = require('greeting');
const { readFileSync } = require('node:fs');
const { join } = require('node:path');
const { suffix } = require('./suffix.js');

const beside = readFileSync(join(__dirname, 'beside.txt'), 'utf8');
module.exports = definePlugin({
  name: '${name}',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx) => {
      if (ctx.path === '/${name}') return { status: 200, body: \`${name} \${how} \${beside}\${suffix}\` };
    });
  },
});
`;

describe('plugin files outside the installation', () => {
  it('.js plugins load whatever their package.json says, and .mjs and .cjs ones, all with tapgate/sdk and their own packages', async (t) => {
    const port = await freePort();
    const home = project({
      ...greeting,
      // "type": "module", "commonjs", and no package.json at all (Node guesses from the syntax).
      'plugins/esm/package.json': '{ "type": "module" }',
      'plugins/esm/plugin.js': esmPlugin('esm'),
      'plugins/esm/suffix.js': "export const suffix = '!';\n",
      'plugins/esm/beside.txt': 'beside',
      'plugins/cjs/package.json': '{ "type": "commonjs" }',
      'plugins/cjs/plugin.js': cjsPlugin('cjs'),
      'plugins/cjs/suffix.js': "exports.suffix = '!';\n",
      'plugins/cjs/beside.txt': 'beside',
      'plugins/untyped/plugin.js': esmPlugin('untyped'),
      'plugins/untyped/suffix.js': "export const suffix = '!';\n",
      'plugins/untyped/beside.txt': 'beside',
      'plugins/mjs/plugin.mjs': esmPlugin('mjs').replace('./suffix.js', './suffix.mjs'),
      'plugins/mjs/suffix.mjs': "export const suffix = '!';\n",
      'plugins/mjs/beside.txt': 'beside',
      'plugins/cjs-file/plugin.cjs': cjsPlugin('cjs-file').replace('./suffix.js', './suffix.cjs'),
      'plugins/cjs-file/suffix.cjs': "exports.suffix = '!';\n",
      'plugins/cjs-file/beside.txt': 'beside',
      // The config's folder sees neither the plugins' package nor tapgate.
      'config/tapgate.yaml': configUsing(
        ['../plugins/esm/plugin.js', '../plugins/cjs/plugin.js', '../plugins/untyped/plugin.js', '../plugins/mjs/plugin.mjs', '../plugins/cjs-file/plugin.cjs'],
        `127.0.0.1:${port}`,
      ),
    });
    const config = join(home, 'config', 'tapgate.yaml');

    const checked = await tapgate('check', '-c', config, '--no-probe');
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);

    const child = spawn(process.execPath, [bin, 'run', '-c', config], { cwd: home, stdio: ['ignore', 'ignore', 'pipe'] });
    t.after(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.setEncoding('utf8');
    await new Promise<void>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('tapgate serving')) resolve();
      });
      child.on('exit', (code) => reject(new Error(`tapgate run exited (${code}) before serving:\n${stderr}`)));
    });
    for (const name of ['esm', 'cjs', 'untyped', 'mjs', 'cjs-file']) {
      const how = name.startsWith('cjs') ? 'require' : 'import';
      assert.deepEqual(await get(port, `/${name}`), { status: 200, body: `${name} ${how} beside!` }, name);
    }
  });

  it('a syntax error in any plugin file, or in a file it imports, is reported by check with file, line and column', async () => {
    const home = project({
      'ts/plugin.ts':
        "import { definePlugin } from 'tapgate/sdk';\nexport default definePlugin({\n  name: 't',\n  version: '1.0.0',\n  setup() { const x = ; },\n});\n",
      'cjs/package.json': '{ "type": "commonjs" }',
      'cjs/plugin.js':
        "const { definePlugin } = require('tapgate/sdk');\nmodule.exports = definePlugin({\n  name: 'j', version: '1.0.0',\n  setup() { return 1 +; },\n});\n",
      'mjs/plugin.mjs': "export default {\n  name: 'm', version: '1.0.0',\n  setup() { if ( },\n};\n",
      'cjs-file/plugin.cjs': "module.exports = {\n  name: 'c', version: '1.0.0',\n  setup() {},,\n};\n",
      'imports/plugin.mjs': "import { answer } from './helper.mjs';\nexport default { name: 'i', version: '1.0.0', setup() { answer(); } };\n",
      'imports/helper.mjs': 'export function answer() {\n  return [1, 2;\n}\n',
      'config/tapgate.yaml': configUsing(['../ts/plugin.ts', '../cjs/plugin.js', '../mjs/plugin.mjs', '../cjs-file/plugin.cjs', '../imports/plugin.mjs']),
    });
    const config = join(home, 'config', 'tapgate.yaml');
    // The type check is typecheck.test.ts's subject; here only what compiling finds.
    const { code, stdout } = await tapgate('check', '-c', config, '--no-probe', '--no-types');
    assert.equal(code, 1);
    assert.deepEqual(stdout.trimEnd().split('\n'), [
      `${config}:2:5: error: plugins[0]: plugin does not compile: ${join(home, 'ts/plugin.ts')}:5:23: Unexpected ";"`,
      `${config}:3:5: error: plugins[1]: plugin does not compile: ${join(home, 'cjs/plugin.js')}:4:23: Unexpected ";"`,
      `${config}:4:5: error: plugins[2]: plugin does not compile: ${join(home, 'mjs/plugin.mjs')}:3:18: Unexpected "}"`,
      `${config}:5:5: error: plugins[3]: plugin does not compile: ${join(home, 'cjs-file/plugin.cjs')}:3:14: Expected identifier but found ","`,
      `${config}:6:5: error: plugins[4]: plugin does not compile: ${join(home, 'imports/helper.mjs')}:2:15: Expected "]" but found ";"`,
      `${config}: 5 errors, 0 warnings`,
    ]);
  });
});

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
