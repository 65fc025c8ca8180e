// examples/custom-plugin/README.md, step by step, as a user runs it: each step a child
// process running the real CLI (bin/tapgate.mjs) or node, from the repository's root.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import http from 'node:http';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

const run = promisify(execFile);
// As a user's shell would run them: not as subtests of this run (node --test tells its
// children so through NODE_TEST_CONTEXT, and they then report in its private format).
const { NODE_TEST_CONTEXT: _, ...env } = process.env;
const cli = join(root, 'bin', 'tapgate.mjs');
const config = 'examples/custom-plugin/tapgate.yaml';
/** Runs a command from the repository's root; resolves with its output whatever the exit code. */
const sh = (args: string[]) =>
  run(process.execPath, args, { cwd: root, env }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: { code: number; stdout: string; stderr: string }) => ({ code: err.code, stdout: err.stdout, stderr: err.stderr }),
  );
const get = (headers: Record<string, string> = {}) =>
  new Promise<{ body: string; cookies: string[] }>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: 8081, path: '/', headers, agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ body, cookies: res.headers['set-cookie'] ?? [] }));
      })
      .on('error', reject);
  });

describe('examples/custom-plugin/README.md, followed from nothing', () => {
  const base = join(root, 'test', '.tmp');
  mkdirSync(base, { recursive: true });
  const tmp = mkdtempSync(join(base, 'custom-plugin-'));
  let example: RunningExample | undefined;
  after(async () => {
    await example?.stop();
    rmSync(tmp, { recursive: true, force: true });
  });

  it('1. `tapgate new plugin my-plugin` makes a plugin folder whose config checks and whose test passes', async () => {
    const dir = relative(root, tmp);
    const made = await sh([cli, 'new', 'plugin', 'my-plugin', '--dir', dir]);
    assert.equal(made.code, 0, made.stderr);
    const folder = join(dir, 'my-plugin');
    assert.deepEqual(readdirSync(join(root, folder)).sort(), ['README.md', 'index.ts', 'my-plugin.test.ts', 'tapgate.yaml']);
    const checked = await sh([cli, 'check', '-c', join(folder, 'tapgate.yaml'), '--no-probe']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    const tested = await sh(['--import', 'tapgate/register', '--test', join(folder, 'my-plugin.test.ts')]);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 2\n# fail 0/);
  });

  it("3. the A/B plugin's own harness test passes", async () => {
    const tested = await sh(['--import', 'tsx', '--test', 'examples/custom-plugin/ab-split.test.ts']);
    assert.equal(tested.code, 0, tested.stdout + tested.stderr);
    assert.match(tested.stdout, /# pass 4/);
  });

  it('4. `tapgate check` finds the config and the plugin valid', async () => {
    const checked = await sh([cli, 'check', '-c', config, '--no-probe']);
    assert.equal(checked.code, 0, checked.stdout + checked.stderr);
    assert.match(checked.stdout, /tapgate\.yaml: valid/);
  });

  it('5. `tapgate explain` shows ab-split choosing the backend on the route hook', async () => {
    const explained = await sh([cli, 'explain', '-c', config, '--request', 'GET http://127.0.0.1:8081/', '--header', 'Cookie: ab=b']);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, /route +default +\(a route tap chose backend "next"\)/);
    assert.match(explained.stdout, /^ {2}route .*ab-split \(ROUTE 0\)/m);
    assert.match(explained.stdout, /^ {2}upstreamResponse +ab-split/m);
  });

  it('6. start.ts serves both variants: by cookie, and a cookie for a new visitor', async () => {
    example = await startExample('examples/custom-plugin/start.ts', { env });
    assert.equal((await get({ cookie: 'ab=a' })).body, 'hello from stable: GET /\n');
    assert.equal((await get({ cookie: 'ab=b' })).body, 'hello from next: GET /\n');
    const fresh = await get();
    assert.match(fresh.cookies[0] ?? '', /^ab=(a|b); Path=\/;/);
    const variant = fresh.cookies[0]!.slice(3, 4);
    assert.equal(fresh.body, `hello from ${variant === 'a' ? 'stable' : 'next'}: GET /\n`);
  });
});
