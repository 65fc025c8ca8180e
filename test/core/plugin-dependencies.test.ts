// Plugin dependencies: `requires` is met by a plugin applying wherever the use does (the
// top level covers every frontend, a frontend its routes), and `tapgate check` reports a
// use without it where the config writes it; `after` orders a plugin's taps after
// another's, which `tapgate explain` shows and requests follow.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestGateway } from '../../sdk/testing.ts';
import { definePlugin } from '../../sdk/index.ts';
import { root, tempDir } from '../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');

function tapgate(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, ...args], { cwd: root }, (err, stdout, stderr) => {
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

/** `line:column` (1-based) of the first occurrence of `needle` in `text`. */
function pos(text: string, needle: string): string {
  const at = text.indexOf(needle);
  assert.ok(at >= 0, `"${needle}" is not in the config`);
  const lines = text.slice(0, at).split('\n');
  return `${lines.length}:${lines.at(-1)!.length + 1}`;
}

/** A plugin that appends its name to `x-order` on the way to the server, at `stage`. */
const stamper = (name: string, o: { stage?: string; after?: string[]; requires?: string[] } = {}) => `import { definePlugin, Stage } from 'tapgate/sdk';
export default definePlugin({
  name: '${name}',
  version: '1.0.0',
  ${o.after ? `after: ${JSON.stringify(o.after)},` : ''}
  ${o.requires ? `requires: ${JSON.stringify(o.requires)},` : ''}
  setup(api) {
    api.hooks.http.upstreamRequest.tap({ name: api.name, stage: Stage.${o.stage ?? 'ROUTE'} }, (ctx) => {
      const up = ctx.upstream;
      up.headers['x-order'] = [up.headers['x-order'], '${name}'].filter(Boolean).join(',');
    });
  },
});
`;

describe('requires', () => {
  let dir: string;
  before(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'audit.ts'), stamper('audit', { requires: ['jwt'] }));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const jwt = `{ use: jwt, options: { secret: 0123456789abcdef0123456789abcdef } }`;
  const backends = `backends:\n  app: { servers: [{ name: s, address: 127.0.0.1:1 }] }\n`;

  it('is met by the plugin on the same route, on its frontend, or at the top level', async () => {
    const text = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    plugins: [${jwt}]
    routes:
      - { name: a, match: { path: /a }, plugins: [./audit.ts] }
  api:
    bind: 127.0.0.1:0
    default_backend: app
    routes:
      - { name: b, match: { path: /b }, plugins: [${jwt}, ./audit.ts] }
${backends}`;
    writeFileSync(join(dir, 'met.yaml'), text);
    const run = await tapgate('check', '-c', join(dir, 'met.yaml'), '--no-probe', '--no-types');
    assert.equal(run.code, 0, run.stdout + run.stderr);
  });

  it('is reported where the config uses the plugin, when the required one does not apply there', async () => {
    const text = `plugins: [./audit.ts]
frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    plugins: [${jwt}]
  api:
    bind: 127.0.0.1:0
    default_backend: app
    plugins: [ ./audit.ts ]
    routes:
      - { name: b, match: { path: /b }, plugins: [${jwt}] }
      - { name: c, match: { path: /c }, plugins: [ ./audit.ts] }
${backends}`;
    const file = join(dir, 'unmet.yaml');
    writeFileSync(file, text);
    const run = await tapgate('check', '-c', file, '--no-probe', '--no-types');
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const expect = (needle: string, path: string, hint: string) => {
      const line = `${file}:${pos(text, needle)}: error: ${path}: plugin "audit" requires plugin "jwt", which does not apply here (add jwt to ${hint})`;
      assert.ok(run.stdout.includes(line), `missing:\n  ${line}\nin:\n${run.stdout}`);
    };
    // Top level: jwt on one frontend leaves the other without it.
    expect('./audit.ts]', 'plugins[0]', 'the top-level plugins');
    // A frontend: jwt on one of its routes leaves the others without it.
    expect('./audit.ts ]', 'frontends.api.plugins[0]', `frontend "api"'s plugins or the top-level ones`);
    // A route: jwt on a sibling route does not count.
    expect('./audit.ts] }', 'frontends.api.routes[1].plugins[0]', `this route's plugins, frontend "api"'s or the top-level ones`);
    assert.ok(run.stdout.trimEnd().endsWith('3 errors, 0 warnings'), run.stdout);
  });
});

describe('after', () => {
  let dir: string;
  const config = `frontends:
  web:
    bind: 127.0.0.1:8080
    default_backend: app
    plugins: [./second.ts, ./first.ts, ./early.ts]
backends:
  app: { servers: [{ name: s, address: 127.0.0.1:9001 }] }
`;
  before(() => {
    dir = tempDir();
    writeFileSync(join(dir, 'second.ts'), stamper('second', { after: ['first'] }));
    writeFileSync(join(dir, 'first.ts'), stamper('first'));
    writeFileSync(join(dir, 'early.ts'), stamper('early', { stage: 'FIRST', after: ['first'] }));
    writeFileSync(join(dir, 'tapgate.yaml'), config);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('puts the plugin after the one it names on every hook they share, which explain shows', async () => {
    const run = await tapgate('explain', '-c', join(dir, 'tapgate.yaml'), '--request', 'GET http://127.0.0.1:8080/');
    assert.equal(run.code, 0, run.stderr);
    const line = run.stdout.split('\n').find((l) => l.trimStart().startsWith('upstreamRequest'));
    assert.equal(line, '  upstreamRequest   early (FIRST -1000) → first (ROUTE 0) → second (ROUTE 0, after first)');
    const json = JSON.parse((await tapgate('explain', '-c', join(dir, 'tapgate.yaml'), '--request', 'GET http://127.0.0.1:8080/', '--format', 'json')).stdout);
    const taps = json.chain.find((c: { hook: string }) => c.hook === 'upstreamRequest').taps;
    assert.deepEqual(
      taps.map((t: { plugin: string; after?: string[] }) => [t.plugin, t.after]),
      [
        ['early', undefined],
        ['first', undefined],
        ['second', ['first']],
      ],
    );
  });

  it('is warned about by check where a stage puts the tap first anyway', async () => {
    const run = await tapgate('check', '-c', join(dir, 'tapgate.yaml'), '--no-probe', '--no-types');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const file = join(dir, 'tapgate.yaml');
    assert.ok(
      run.stdout.includes(
        `${file}:${pos(config, './early.ts')}: warning: frontends.web.plugins[2]: plugin "early" runs after "first", but on http.upstreamRequest its tap (stage -1000) comes before "first"'s (stage 0): stages order taps before "after" does`,
      ),
      run.stdout,
    );
    assert.ok(run.stdout.trimEnd().endsWith('valid (1 warning)'), run.stdout);
  });

  it('is the order requests go through', async () => {
    const stamp = (name: string, after?: string[]) =>
      definePlugin({
        name,
        version: '1.0.0',
        after,
        setup(api) {
          api.hooks.http.upstreamRequest.tap(api.name, (ctx) => {
            const up = ctx.upstream!;
            up.headers['x-order'] = [up.headers['x-order'], name].filter(Boolean).join(',');
          });
        },
      });
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['second', 'first'] } },
        backends: { app: { servers: [{ name: 's', address: 'origin:app' }] } },
      },
      plugins: { second: stamp('second', ['first']), first: stamp('first') },
      origins: { app: 'echo' },
    });
    try {
      assert.equal(JSON.parse((await t.request('/')).body).headers['x-order'], 'first,second');
    } finally {
      await t.close();
    }
  });
});
