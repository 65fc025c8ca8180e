// `tapgate check` and config loading, on real files in a temp folder. Where the output,
// the exit code or the JSON is the behaviour, the real CLI runs as a child process.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { checkConfig } from '../../../core/config/check.ts';
import { formatProblem, type Problem } from '../../../core/config/problems.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { deadPort, root, startOrigin, tempDir, type TestOrigin } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const goldenDir = join(root, 'test', 'core', 'config', 'golden');
const made: string[] = [];

after(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** Writes `files` (name -> text) into a fresh temp folder; returns the folder. */
function writeFiles(files: Record<string, string>): string {
  const dir = tempDir();
  made.push(dir);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, name)), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

function tapgate(...args: string[]): Promise<CliRun> {
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
  const before = text.slice(0, at).split('\n');
  return `${before.length}:${before.at(-1)!.length + 1}`;
}

async function check(file: string): Promise<{ ok: boolean; problems: Problem[]; text: string }> {
  const result = await checkConfig(file, { builtins, logger: createLogger('silent') });
  return { ok: result.ok, problems: result.problems, text: result.problems.map(formatProblem).join('\n') };
}

/** One frontend, one backend with one server; `plugin` is named first, at line 2. */
function smallConfig(o: { address?: string; plugin?: string }): string {
  return `${o.plugin ? `plugins:\n  - ${o.plugin}\n` : ''}frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
backends:
  app:
    servers:
      - name: a
        address: ${o.address ?? '127.0.0.1:1'}
`;
}

const limitsPlugin = `import { definePlugin, z } from 'tapgate/sdk';

export default definePlugin({
  name: 'limits',
  version: '1.0.0',
  options: z.strictObject({ max_connections: z.number().int().positive() }),
  setup() {},
});
`;

// Ten mistakes, one of each kind `check` knows before anything serves.
const manyMistakes = `log:
  level: silent
plugins:
  - use: ./limits.ts
    options:
      max_connections: lots
  - lb-roundrobn
  - ./missing-plugin.ts
frontends:
  web:
    bind: 127.0.0.1:18080
    default_backend: app
    timeuots:
      client: 5s
  api:
    bind: 127.0.0.1:18080
    default_backend: apps
backends:
  app:
    balance: roundrobbin
    servers:
      - name: a
        address: 127.0.0.1:18081
      - name: b
        address: 127.0.0.1
      - name: c
        weight: 2
  static:
    balance: roundrobin
`;

describe('tapgate check on a config with many mistakes', () => {
  let dir: string;
  let file: string;
  let text: CliRun;
  let json: CliRun;

  before(async () => {
    dir = writeFiles({ 'tapgate.yaml': manyMistakes, 'limits.ts': limitsPlugin });
    file = join(dir, 'tapgate.yaml');
    [text, json] = await Promise.all([tapgate('check', '-c', file, '--no-probe'), tapgate('check', '-c', file, '--no-probe', '--format', 'json')]);
  });

  it('prints every mistake in one run, each with file:line:column and key path, and exits 1', () => {
    assert.equal(text.code, 1, text.stderr);
    const expect = (needle: string, path: string, message: string) => {
      const line = `${file}:${pos(manyMistakes, needle)}: error: ${path}: ${message}`;
      assert.ok(text.stdout.includes(line), `missing:\n  ${line}\nin:\n${text.stdout}`);
    };
    expect('lots', 'plugins[0].options.max_connections', 'plugin "limits" options: expected a number, found "lots"');
    expect('lb-roundrobn', 'plugins[1]', 'unknown plugin "lb-roundrobn"');
    expect('./missing-plugin.ts', 'plugins[2]', `plugin file ${join(dir, 'missing-plugin.ts')} does not exist`);
    expect('timeuots', 'frontends.web.timeuots', 'unknown key "timeuots" (did you mean "timeouts"?)');
    expect('127.0.0.1:18080\n    default_backend: apps', 'frontends.api.bind', '127.0.0.1:18080 is already bound by frontend "web"');
    expect('apps', 'frontends.api.default_backend', 'backend "apps" does not exist (did you mean "app"?)');
    expect('roundrobbin', 'backends.app.balance', 'unknown balancing algorithm "roundrobbin" (did you mean "roundrobin"?)');
    expect('127.0.0.1\n', 'backends.app.servers[1].address', 'expected host:port');
    expect('name: c', 'backends.app.servers[2].address', 'missing required key "address"');
    expect('static', 'backends.static.servers', 'missing required list "servers"');
    assert.match(text.stdout, /lb-roundrobn.*did you mean "lb-roundrobin"\?/);
    assert.ok(text.stdout.trimEnd().endsWith(`${file}: 10 errors, 0 warnings`), text.stdout);
  });

  it('prints the problems in the order of the file', () => {
    const lines = text.stdout
      .trim()
      .split('\n')
      .slice(0, -1)
      .map((l) => Number(l.slice(file.length + 1).split(':')[0]));
    assert.deepEqual(
      lines,
      [...lines].sort((a, b) => a - b),
    );
  });

  it('gives the same problems as JSON, each with severity, path, line, column and message', () => {
    assert.equal(json.code, 1, json.stderr);
    const out = JSON.parse(json.stdout) as { valid: boolean; file: string; errors: number; warnings: number; problems: Problem[] };
    assert.equal(out.valid, false);
    assert.equal(out.file, file);
    assert.equal(out.errors, 10);
    assert.equal(out.warnings, 0);
    assert.deepEqual(
      out.problems.map((p) => p.path),
      [
        'plugins[0].options.max_connections',
        'plugins[1]',
        'plugins[2]',
        'frontends.web.timeuots',
        'frontends.api.bind',
        'frontends.api.default_backend',
        'backends.app.balance',
        'backends.app.servers[1].address',
        'backends.app.servers[2].address',
        'backends.static.servers',
      ],
    );
    for (const p of out.problems) {
      assert.equal(p.severity, 'error');
      assert.equal(typeof p.line, 'number', p.path);
      assert.equal(typeof p.column, 'number', p.path);
      assert.ok(p.message.length > 0);
      // The text output is rendered from the same objects.
      assert.ok(text.stdout.includes(formatProblem(p)), formatProblem(p));
    }
    assert.equal(out.problems.find((p) => p.path === 'frontends.web.timeuots')?.hint, 'did you mean "timeouts"?');
  });

  it('prints exactly what the golden file holds', () => {
    const golden = join(goldenDir, 'many-mistakes.txt');
    const actual = text.stdout.replaceAll(dir, '<dir>');
    if (process.env.UPDATE_GOLDEN) {
      mkdirSync(goldenDir, { recursive: true });
      writeFileSync(golden, actual);
    }
    assert.equal(actual, readFileSync(golden, 'utf8'), 'run with UPDATE_GOLDEN=1 to accept the new output');
  });
});

describe('tapgate check on a valid config', () => {
  let origin: TestOrigin;
  before(async () => {
    origin = await startOrigin('a');
  });
  after(() => origin.close());

  const config = (address: string) => smallConfig({ address });

  it('exits 0 and prints "valid" when every server answers', async () => {
    const file = join(writeFiles({ 'tapgate.yaml': config(origin.address) }), 'tapgate.yaml');
    const run = await tapgate('check', '-c', file);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout, `${file}: valid\n`);
  });

  it('warns about a server nothing listens on, and still exits 0', async () => {
    const address = `127.0.0.1:${await deadPort()}`;
    const text = config(address);
    const file = join(writeFiles({ 'tapgate.yaml': text }), 'tapgate.yaml');
    const run = await tapgate('check', '-c', file);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(
      run.stdout,
      `${file}:${pos(text, address)}: warning: backends.app.servers[0].address: server a at ${address} is unreachable now (ECONNREFUSED)\n${file}: valid (1 warning)\n`,
    );
  });

  it('does not try the servers with --no-probe', async () => {
    const file = join(writeFiles({ 'tapgate.yaml': config(`127.0.0.1:${await deadPort()}`) }), 'tapgate.yaml');
    const run = await tapgate('check', '-c', file, '--no-probe');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout, `${file}: valid\n`);
  });
});

describe('tapgate check on YAML that does not parse', () => {
  it('reports a syntax error with its line and column, and exits 1', async () => {
    const text = 'frontends:\n  web:\n    bind: 127.0.0.1:0\n    mode: http: tcp\n';
    const file = join(writeFiles({ 'tapgate.yaml': text }), 'tapgate.yaml');
    const run = await tapgate('check', '-c', file, '--no-probe');
    assert.equal(run.code, 1);
    assert.match(run.stdout, new RegExp(`^${escape(file)}:${pos(text, 'http: tcp')}: error: YAML: Nested mappings are not allowed in compact mappings\n`));
  });

  it('reports a duplicate key with its line, column and key path, and still checks the rest', async () => {
    const text = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
  web:
    bind: 127.0.0.1:0
    default_backnd: app
backends:
  app:
    servers:
      - name: a
        address: 127.0.0.1:1
`;
    const file = join(writeFiles({ 'tapgate.yaml': text }), 'tapgate.yaml');
    const run = await tapgate('check', '-c', file, '--no-probe');
    assert.equal(run.code, 1);
    const lines = run.stdout.trim().split('\n');
    assert.equal(
      lines[0],
      `${file}:5:3: error: frontends.web: duplicate key "web" (first at line 2); the later one would replace the earlier (merge the two or rename one)`,
    );
    assert.equal(
      lines[1],
      `${file}:${pos(text, 'default_backnd')}: error: frontends.web.default_backnd: unknown key "default_backnd" (did you mean "default_backend"?)`,
    );
    assert.equal(lines.length, 3);
  });

  it('reports an empty file instead of failing on it', async () => {
    const file = join(writeFiles({ 'tapgate.yaml': '' }), 'tapgate.yaml');
    const { ok, text } = await check(file);
    assert.equal(ok, false);
    assert.equal(text, `${file}: error: expected a mapping of sections (frontends, backends, ...), found an empty document`);
  });
});

describe('a TypeScript config', () => {
  const valid = `import { defineConfig } from 'tapgate/sdk';

export default defineConfig({
  log: { level: 'silent' },
  frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
  backends: { app: { servers: [{ name: 'a', address: '127.0.0.1:1' }] } },
});
`;

  it('is accepted, and compiled into .tapgate/cache beside it rather than in /tmp', async () => {
    const dir = writeFiles({ 'tapgate.config.ts': valid });
    const run = await tapgate('check', '-c', join(dir, 'tapgate.config.ts'), '--no-probe');
    assert.equal(run.code, 0, run.stdout + run.stderr);
    assert.equal(run.stdout, `${join(dir, 'tapgate.config.ts')}: valid\n`);
    const cached = readdirSync(join(dir, '.tapgate', 'cache'));
    assert.equal(cached.length, 1);
    assert.match(cached[0]!, /^tapgate\.config-[0-9a-f]+\.mjs$/);
  });

  it('has its mistakes reported with their key paths', async () => {
    const dir = writeFiles({
      'tapgate.config.ts': `import { defineConfig } from 'tapgate/sdk';

export default defineConfig({
  frontends: { web: { bind: '127.0.0.1:0', default_backend: 'ap', timeuots: {} } as any },
  backends: { app: { balance: 'roundrobbin', servers: [{ name: 'a', address: '127.0.0.1:1' }, { name: 'b', address: '127.0.0.1' }] } },
});
`,
    });
    const file = join(dir, 'tapgate.config.ts');
    const run = await tapgate('check', '-c', file, '--no-probe', '--format', 'json');
    assert.equal(run.code, 1);
    const out = JSON.parse(run.stdout) as { problems: Problem[] };
    assert.deepEqual(
      out.problems.map((p) => [p.path, p.message, p.hint]),
      [
        ['frontends.web.timeuots', 'unknown key "timeuots"', 'did you mean "timeouts"?'],
        ['backends.app.servers[1].address', 'expected host:port, e.g. 127.0.0.1:8080, [::1]:8080 or *:8080, found "127.0.0.1"', undefined],
        ['frontends.web.default_backend', 'backend "ap" does not exist', 'did you mean "app"?'],
        ['backends.app.balance', 'unknown balancing algorithm "roundrobbin"', 'did you mean "roundrobin"?'],
      ],
    );
    assert.ok(out.problems.every((p) => p.file === file));
  });

  it('that does not compile is reported with its line and column', async () => {
    const text = `import { defineConfig } from 'tapgate/sdk';\n\nexport default defineConfig({\n  frontends: { web: { bind: '127.0.0.1:0' },, },\n});\n`;
    const file = join(writeFiles({ 'tapgate.config.ts': text }), 'tapgate.config.ts');
    const run = await tapgate('check', '-c', file);
    assert.equal(run.code, 1);
    assert.equal(run.stdout.split('\n')[0], `${file}:${pos(text, ', },')}: error: the configuration does not compile: Expected identifier but found ","`);
  });

  it('without a default export is refused', async () => {
    const file = join(writeFiles({ 'tapgate.config.ts': 'export const config = {};\n' }), 'tapgate.config.ts');
    const { ok, text } = await check(file);
    assert.equal(ok, false);
    assert.equal(text, `${file}: error: the configuration has no default export; expected export default defineConfig({ ... })`);
  });
});

describe('plugins named in a config', () => {
  const configUsing = (plugin: string) => smallConfig({ plugin });

  it('a plugin whose TypeScript does not compile is reported with its file, line and column', async () => {
    const source = `import { definePlugin } from 'tapgate/sdk';\n\nexport default definePlugin({\n  name: 'broken',\n  version: '1.0.0',\n  setup() {\n    const x = ;\n  },\n});\n`;
    const dir = writeFiles({ 'tapgate.yaml': configUsing('./broken.ts'), 'broken.ts': source });
    const { ok, text } = await check(join(dir, 'tapgate.yaml'));
    assert.equal(ok, false);
    assert.equal(
      text,
      `${join(dir, 'tapgate.yaml')}:2:5: error: plugins[0]: plugin does not compile: ${join(dir, 'broken.ts')}:${pos(source, ';\n  },')}: Unexpected ";"`,
    );
  });

  it('a plugin whose gateway range excludes this version is refused', async () => {
    const dir = writeFiles({
      'tapgate.yaml': configUsing('./future.ts'),
      'future.ts': `import { definePlugin } from 'tapgate/sdk';\nexport default definePlugin({ name: 'future', version: '1.0.0', gateway: '>=99', setup() {} });\n`,
    });
    const { ok, problems } = await check(join(dir, 'tapgate.yaml'));
    assert.equal(ok, false);
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.path, 'plugins[0]');
    assert.match(problems[0]!.message, /^plugin "future" needs gateway >=99, but this is tapgate \d+\.\d+\.\d+$/);
  });

  it('a plugin whose setup throws is reported with what it said', async () => {
    const dir = writeFiles({
      'tapgate.yaml': configUsing('./throws.ts'),
      'throws.ts': `import { definePlugin } from 'tapgate/sdk';\nexport default definePlugin({ name: 'throws', version: '1.0.0', setup() { throw new Error('no key file at ./key.pem'); } });\n`,
    });
    const { ok, text } = await check(join(dir, 'tapgate.yaml'));
    assert.equal(ok, false);
    assert.equal(text, `${join(dir, 'tapgate.yaml')}:2:5: error: plugins[0]: plugin "throws" failed to set up: no key file at ./key.pem`);
  });

  it('options the plugin accepts get its defaults, and the config is valid', async () => {
    const dir = writeFiles({
      'tapgate.yaml': configUsing('{ use: ./limits.ts, options: { max_connections: 10 } }'),
      'limits.ts': limitsPlugin,
    });
    const { ok, text } = await check(join(dir, 'tapgate.yaml'));
    assert.equal(ok, true, text);
  });
});

describe('modes', () => {
  it('a tcp frontend whose default backend declares mode http is an error', async () => {
    const text = `frontends:
  db:
    mode: tcp
    bind: 127.0.0.1:0
    default_backend: app
backends:
  app:
    mode: http
    servers:
      - name: a
        address: 127.0.0.1:1
`;
    const file = join(writeFiles({ 'tapgate.yaml': text }), 'tapgate.yaml');
    const { ok, problems } = await check(file);
    assert.equal(ok, false);
    assert.deepEqual(problems.map(formatProblem), [
      `${file}:${pos(text, 'app')}: error: frontends.db.default_backend: frontend "db" is mode tcp, but its backend "app" declares mode http (use a backend with mode tcp, or set mode: tcp on "app")`,
    ]);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
