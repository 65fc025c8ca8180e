// Extensions (balancing algorithms, matchers, detectors) declared with their options
// schemas: the real `tapgate check` reports a bad `balance_options` with its file, line
// and key path, as any other config problem, for built-in and user algorithms alike.
import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { root, tempDir } from '../../helpers/gateway.ts';

const bin = join(root, 'bin', 'tapgate.mjs');

function check(file: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [bin, 'check', '-c', file, '--no-probe', '--no-types', ...args], { cwd: root }, (err, stdout, stderr) => {
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

const spillover = `import { defineBalancer, definePlugin, z } from 'tapgate/sdk';

export default definePlugin({
  name: 'spillover',
  version: '1.0.0',
  extensions: [
    defineBalancer({
      name: 'spillover',
      options: z.strictObject({ spare: z.number().int().min(1) }),
      create: (o) => ({ pick: (_ctx, eligible) => eligible[Math.min(o.spare, eligible.length - 1)] }),
    }),
  ],
});
`;

const servers = `    servers: [{ name: s, address: 127.0.0.1:1 }]\n`;
const config = `plugins: [./spillover.ts]
frontends:
  web: { bind: 127.0.0.1:0, default_backend: ewma }
backends:
  ewma:
    balance: ewma
    balance_options:
      decay: soon
      choices: 2
${servers}  random:
    balance: random
    balance_options: { choice: 2 }
${servers}  hashed:
    balance: uri
    balance_options:
      hash_type: consistnt
      balance_factor: 1.25
${servers}  header:
    balance: hdr
${servers}  client:
    balance: source(x-user)
${servers}  plain:
    balance_options: { choices: 2 }
${servers}  spill:
    balance: spillover
    balance_options: { spare: 0 }
${servers}  fine:
    balance: hdr(x-user)
    balance_options: { hash_type: consistent, balance_factor: 1.5 }
${servers}`;

describe('tapgate check on algorithms and their balance_options', () => {
  let dir: string;
  let file: string;
  let text: { code: number; stdout: string; stderr: string };
  let json: { problems: { path: string; line: number; column: number; message: string; hint?: string }[] };
  before(async () => {
    dir = tempDir();
    file = join(dir, 'tapgate.yaml');
    writeFileSync(join(dir, 'spillover.ts'), spillover);
    writeFileSync(file, config);
    const [t, j] = await Promise.all([check(file), check(file, '--format', 'json')]);
    text = t;
    json = JSON.parse(j.stdout);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reports each bad option, argument and algorithm with file:line:column and key path, and exits 1', () => {
    assert.equal(text.code, 1, text.stderr);
    const expect = (needle: string, path: string, message: string) => {
      const line = `${file}:${pos(config, needle)}: error: ${path}: ${message}`;
      assert.ok(text.stdout.includes(line), `missing:\n  ${line}\nin:\n${text.stdout}`);
    };
    expect(
      'soon',
      'backends.ewma.balance_options.decay',
      'algorithm "ewma": expected a duration such as 30s, 500ms, 5m or a number of milliseconds, found "soon"',
    );
    expect('choice:', 'backends.random.balance_options.choice', 'algorithm "random": unknown key "choice" (did you mean "choices"?)');
    expect(
      'consistnt',
      'backends.hashed.balance_options.hash_type',
      'algorithm "uri": expected one of "map-based", "consistent", found "consistnt" (did you mean "consistent"?)',
    );
    expect('hdr\n', 'backends.header.balance', 'algorithm "hdr" needs an argument: the header to hash, as in balance: hdr(x-user)');
    expect('source(x-user)', 'backends.client.balance', 'algorithm "source" takes no argument, found source(x-user) (write balance: source)');
    expect('choices: 2 }', 'backends.plain.balance_options.choices', 'algorithm "roundrobin": unknown key "choices"');
    expect('0 }', 'backends.spill.balance_options.spare', 'algorithm "spillover": expected a number >= 1, found 0');
    assert.ok(text.stdout.trimEnd().endsWith(`${file}: 7 errors, 0 warnings`), text.stdout);
  });

  it('gives the same problems as JSON, and none for a backend whose options are right', () => {
    assert.deepEqual(
      json.problems.map((p) => p.path),
      [
        'backends.ewma.balance_options.decay',
        'backends.random.balance_options.choice',
        'backends.hashed.balance_options.hash_type',
        'backends.header.balance',
        'backends.client.balance',
        'backends.plain.balance_options.choices',
        'backends.spill.balance_options.spare',
      ],
    );
    assert.ok(!json.problems.some((p) => p.path.startsWith('backends.fine')));
  });
});

describe('tapgate check on extensions that clash', () => {
  it('refuses a second algorithm of the same name, naming the plugin that brought the first', async () => {
    const dir = tempDir();
    try {
      writeFileSync(join(dir, 'rr.ts'), spillover.replaceAll("'spillover'", "'roundrobin'"));
      const text = `frontends:\n  web:\n    bind: 127.0.0.1:0\n    default_backend: app\n    plugins: [./rr.ts]\nbackends:\n  app:\n${servers}`;
      writeFileSync(join(dir, 'tapgate.yaml'), text);
      const run = await check(join(dir, 'tapgate.yaml'));
      assert.equal(run.code, 1);
      assert.ok(
        run.stdout.includes(
          `${join(dir, 'tapgate.yaml')}:${pos(text, './rr.ts')}: error: frontends.web.plugins[0]: plugin "roundrobin": balancing algorithm "roundrobin" is already brought by plugin "lb-roundrobin"`,
        ),
        run.stdout,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
