// `tapgate explain` on the routing example, run as the real CLI: its output for three
// requests is a golden file (UPDATE_GOLDEN=1 rewrites it after a deliberate change).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const config = join('examples', 'routing', 'tapgate.yaml');
const golden = join(root, 'test', 'core', 'cli', 'golden', 'explain.txt');

const tapgate = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

describe('tapgate explain', () => {
  it('prints the route taken, why, and the plugin chain in order (golden file)', () => {
    const cases = [
      ['--request', 'GET http://api.example.com:8080/v1/users'],
      ['--request', 'POST http://www.example.com:8080/admin/users', '--src', '192.0.2.7'],
      ['--request', 'GET http://shop.old.example.com:8080/cart?id=7'],
      ['--request', 'GET /index.html', '--header', 'X-Canary: 0'],
    ];
    const out = cases
      .map((args) => {
        const run = tapgate('explain', '-c', config, ...args);
        assert.equal(run.status, 0, run.stderr);
        return `$ tapgate explain -c ${config} ${args.map((a) => (a.includes(' ') ? `'${a}'` : a)).join(' ')}\n${run.stdout}`;
      })
      .join('\n');
    if (process.env.UPDATE_GOLDEN) writeFileSync(golden, out);
    assert.equal(out, readFileSync(golden, 'utf8'));
  });

  it('answers JSON with the same facts', () => {
    const run = tapgate('explain', '-c', config, '--request', 'GET http://api.example.com:8080/v1/users', '--format', 'json');
    assert.equal(run.status, 0, run.stderr);
    const e = JSON.parse(run.stdout);
    assert.equal(e.route, 'api');
    assert.equal(e.backend.name, 'api');
    assert.deepEqual(
      e.routes.map((r: { name: string; held: boolean }) => [r.name, r.held]),
      [
        ['old-site', false],
        ['api', true],
      ],
    );
    assert.deepEqual(
      e.chain.find((c: { hook: string }) => c.hook === 'upstreamRequest').taps.map((t: { plugin: string }) => t.plugin),
      ['rewrite', 'cache'],
    );
  });

  it('refuses a malformed request line and an unknown frontend, saying what it expects', () => {
    const bad = tapgate('explain', '-c', config, '--request', 'http://x/');
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--request expects 'METHOD URL'/);
    const unknown = tapgate('explain', '-c', config, '--request', 'GET /', '--frontend', 'wbe');
    assert.equal(unknown.status, 2);
    assert.match(unknown.stderr, /no frontend "wbe" \(frontends: web\)/);
  });
});
