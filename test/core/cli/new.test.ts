import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { root, tempDir } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

function tapgate(args: string[], cwd = root) {
  return spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8' });
}

// Without NODE_TEST_CONTEXT, which would make an inner test run report to this one instead of printing.
const env = { ...process.env };
delete env.NODE_TEST_CONTEXT;

function scratch(): string {
  const dir = tempDir();
  dirs.push(dir);
  return dir;
}

describe('tapgate new plugin', () => {
  it('scaffolds a plugin that checks, and whose own test passes from the project root', () => {
    const dir = scratch();
    const created = tapgate(['new', 'plugin', 'add-header', '--dir', dir]);
    assert.equal(created.status, 0, created.stderr);
    const folder = join(dir, 'add-header');
    assert.deepEqual(readdirSync(folder).sort(), ['README.md', 'add-header.test.ts', 'index.ts', 'tapgate.yaml']);

    const source = readFileSync(join(folder, 'index.ts'), 'utf8');
    assert.match(source, /name: 'add-header'/);
    assert.deepEqual(
      [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]),
      ['tapgate/sdk'],
    );
    assert.match(readFileSync(join(folder, 'tapgate.yaml'), 'utf8'), /use: \.\/index\.ts/);
    assert.match(readFileSync(join(folder, 'README.md'), 'utf8'), /^# add-header\n[\s\S]*## Options\n[\s\S]*tapgate\.yaml/);

    const checked = tapgate(['check', '-c', join(folder, 'tapgate.yaml'), '--no-probe']);
    assert.equal(checked.status, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /valid/);

    const tested = spawnSync(process.execPath, ['--import', 'tapgate/register', '--test', relative(root, join(folder, 'add-header.test.ts'))], {
      cwd: root,
      env,
      encoding: 'utf8',
    });
    assert.equal(tested.status, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 2\n/);
    assert.match(tested.stdout, /# fail 0\n/);
  });

  it('scaffolds a plugin whose test passes outside this repository, after the install step its README gives', () => {
    // A user's project: outside the repository, where only what npm installs resolves.
    const project = mkdtempSync(join(tmpdir(), 'tapgate-new-'));
    dirs.push(project);
    // No network: a folder is linked, and npm exec finds the linked bin.
    const offline = { ...env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };
    const npm = (args: string[], cwd = project) => {
      const run = spawnSync('npm', args, { cwd, env: offline, encoding: 'utf8', timeout: 120_000 });
      assert.equal(run.status, 0, `npm ${args.join(' ')}:\n${run.stdout}${run.stderr}`);
      return run;
    };
    npm(['init', '-y']);
    assert.equal(tapgate(['new', 'plugin', 'add-header'], project).status, 0);
    const folder = join(project, 'plugins', 'add-header');
    const readme = readFileSync(join(folder, 'README.md'), 'utf8');
    assert.ok(readme.includes('npm install --save-dev /path/to/tapgate'), readme);
    assert.ok(readme.includes('node --import tapgate/register --test add-header.test.ts'), readme);

    npm(['install', '--save-dev', root]);
    const tested = spawnSync(process.execPath, ['--import', 'tapgate/register', '--test', 'add-header.test.ts'], {
      cwd: folder,
      env,
      encoding: 'utf8',
      timeout: 120_000,
    });
    assert.equal(tested.status, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 2\n/);
    assert.match(tested.stdout, /# fail 0\n/);

    const checked = npm(['exec', '--', 'tapgate', 'check', '-c', 'tapgate.yaml', '--no-probe'], folder);
    assert.match(checked.stdout, /tapgate\.yaml: valid/);
  });

  it('creates ./plugins/NAME relative to the working directory by default', () => {
    const dir = scratch();
    const created = tapgate(['new', 'plugin', 'Edge2'], dir);
    assert.equal(created.status, 0, created.stderr);
    assert.ok(existsSync(join(dir, 'plugins', 'Edge2', 'index.ts')));
    assert.match(created.stdout, /created plugins\/Edge2\//);
  });

  it('refuses a name that is not letters, digits and dashes, creating nothing', () => {
    const dir = scratch();
    for (const name of ['my_plugin', '../escape', 'a b', 'trail-', 'two--dashes', '']) {
      const refused = tapgate(['new', 'plugin', '--dir', dir, '--', name]);
      assert.equal(refused.status, 2, `${JSON.stringify(name)}: ${refused.stderr}`);
      assert.ok(refused.stderr.includes(`"${name}" is not a valid plugin name: use letters, digits and single dashes`), refused.stderr);
    }
    assert.deepEqual(readdirSync(dir), []);
  });

  it('refuses an existing folder and leaves it as it was', () => {
    const dir = scratch();
    mkdirSync(join(dir, 'taken'));
    const refused = tapgate(['new', 'plugin', 'taken', '--dir', dir]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /taken already exists; choose another NAME or --dir, or remove it first/);
    assert.deepEqual(readdirSync(join(dir, 'taken')), []);
  });

  it('says what it expects when the kind or name is missing', () => {
    for (const args of [['new'], ['new', 'plugin'], ['new', 'theme', 'x']]) {
      const refused = tapgate(args);
      assert.equal(refused.status, 2, args.join(' '));
      assert.match(refused.stderr, /usage: tapgate new plugin NAME \[--dir DIR\]/);
    }
  });
});
