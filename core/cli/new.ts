// `tapgate new plugin NAME [--dir DIR]`: a plugin folder to start from: the plugin, its
// test, a README and a config that uses it. Each file is written as a user would write it,
// against `tapgate/sdk` only, so the scaffold is also a small worked example.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { gatewayVersion } from '../version.ts';

const usage = 'usage: tapgate new plugin NAME [--dir DIR]   (NAME: letters, digits and -; DIR defaults to ./plugins)\n';

/** Letters, digits and dashes: a folder name, a file name and a `use:` name all at once. */
const validName = /^[A-Za-z0-9]+(-[A-Za-z0-9]+)*$/;

export async function newCommand(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: { dir: { type: 'string' } } });
  } catch (err) {
    process.stderr.write(`tapgate new: ${(err as Error).message}\n${usage}`);
    return 2;
  }
  const [kind, name, ...extra] = parsed.positionals;
  if (kind !== 'plugin' || name === undefined || extra.length > 0) {
    process.stderr.write(`tapgate new: expected "plugin NAME"${kind && kind !== 'plugin' ? `, found "${kind}"` : ''}\n${usage}`);
    return 2;
  }
  if (!validName.test(name)) {
    process.stderr.write(`tapgate new: "${name}" is not a valid plugin name: use letters, digits and single dashes between them (e.g. "add-header")\n`);
    return 2;
  }
  const folder = resolve(parsed.values.dir ?? 'plugins', name);
  const shown = relative(process.cwd(), folder) || '.';
  if (existsSync(folder)) {
    process.stderr.write(`tapgate new: ${shown} already exists; choose another NAME or --dir, or remove it first\n`);
    return 2;
  }
  mkdirSync(folder, { recursive: true });
  const files = scaffold(name);
  for (const [file, text] of Object.entries(files)) writeFileSync(join(folder, file), text);
  process.stdout.write(
    `created ${shown}/ with ${Object.keys(files).join(', ')}\n\n` +
      `validate the plugin and its options:  tapgate check -c ${join(shown, 'tapgate.yaml')}\n` +
      `run its test:                         node --import tapgate/register --test ${join(shown, `${name}.test.ts`)}\n` +
      `(the test imports the tapgate package: install it first, as ${join(shown, 'README.md')} says under "Testing")\n`,
  );
  return 0;
}

/** The files of a new plugin folder, by name. */
export function scaffold(name: string): Record<string, string> {
  const [major, minor] = gatewayVersion.split('.');
  const range = `^${major}.${minor}`;
  return {
    'index.ts': pluginSource(name, range),
    [`${name}.test.ts`]: pluginTest(name),
    'README.md': pluginReadme(name),
    'tapgate.yaml': pluginConfig(name),
  };
}

function pluginSource(name: string, range: string): string {
  return `// ${name}: answers one path itself (a status page, a health check); every other
// request goes on to the backend. Start from here: the request tap below is where a
// plugin decides, before anything is spent on a request.
import { definePlugin, Stage, z } from 'tapgate/sdk';

// Checked by \`tapgate check\`; defaults are filled in before setup sees them.
const Options = z.strictObject({
  /** The path this plugin answers. */
  path: z.string().startsWith('/').default('/${name}'),
  status: z.number().int().min(200).max(599).default(200),
  body: z.string().default('hello from ${name}\\n'),
});

export default definePlugin({
  name: '${name}',
  version: '0.1.0',
  gateway: '${range}',
  description: 'Answers one path itself; other requests go on to the backend.',
  options: Options,
  setup(api, options) {
    // Once per generation: build what the options determine here, not per request.
    const answer = { status: options.status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: options.body };
    // Stage.ROUTE: after auth and limits, before caches and the backend. Returning an
    // answer stops the chain; returning nothing lets the request go on.
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx) => {
      if (ctx.path === options.path) return answer;
    });
    return () => {}; // dispose: release what setup took (timers, sockets)
  },
});
`;
}

function pluginTest(name: string): string {
  return `// ${name}'s test: a whole gateway in this process (createTestGateway) with the plugin
// in front of a fake origin, on port 0; asserts on what a client and the origin see.
// Run it with \`node --import tapgate/register --test ${name}.test.ts\`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import plugin from './index.ts';

describe('${name}', () => {
  let t: TestGateway;

  before(async () => {
    t = await createTestGateway({
      config: {
        frontends: {
          web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: '${name}', options: { path: '/status', body: 'up' } }] },
        },
        backends: { app: { servers: [{ name: 'a', address: 'origin:app' }] } },
      },
      plugins: { '${name}': plugin },
      origins: { app: 'echo' },
    });
  });

  after(() => t?.close());

  it('answers its path itself, without the origin seeing the request', async () => {
    const res = await t.request('/status');
    assert.equal(res.status, 200);
    assert.equal(res.body, 'up');
    assert.deepEqual(t.origins.app!.requests, []);
  });

  it('lets every other request go on to the backend', async () => {
    const res = await t.request('/anything?x=1');
    assert.equal(res.status, 200);
    assert.equal(JSON.parse(res.body).url, '/anything?x=1');
    assert.deepEqual(t.origins.app!.requests.map((r) => r.url), ['/anything?x=1']);
  });
});
`;
}

function pluginReadme(name: string): string {
  return `# ${name}

A tapgate plugin that answers one path itself (a status page, a health check) and lets
every other request go on to the backend. It taps \`http.request\` at \`Stage.ROUTE\`: after
authentication and rate limits, before caches and the backend.

## Options

| option | type | default | what for |
| --- | --- | --- | --- |
| \`path\` | string, starting with \`/\` | \`/${name}\` | the path answered by the plugin (the query string is ignored) |
| \`status\` | integer, 200 to 599 | \`200\` | the answer's status |
| \`body\` | string | \`hello from ${name}\\n\` | the answer's body, sent as \`text/plain\` |

Unknown options are refused by \`tapgate check\`.

## Using it

List it under a frontend's \`plugins\` (that frontend only), a route's \`plugins\` (that
route only) or the top-level \`plugins\` (every frontend), by file:

\`\`\`yaml
frontends:
  web:
    bind: 127.0.0.1:8080
    default_backend: app
    plugins:
      - use: ./plugins/${name}/index.ts     # relative to the configuration file
        options: { path: /status, body: "up\\n" }
\`\`\`

\`tapgate.yaml\` in this folder is a complete example:

\`\`\`sh
tapgate check -c tapgate.yaml          # the plugin compiles and its options validate
tapgate run --single -c tapgate.yaml   # then: curl http://127.0.0.1:8080/${name}
\`\`\`

## Testing

\`${name}.test.ts\` starts a whole gateway in the test's process (\`createTestGateway\` from
\`tapgate/sdk/testing\`) with this plugin in front of a fake origin, and asserts on what
a client and the origin see. It imports the \`tapgate\` package, so install that once in
the project holding this folder (it needs a \`package.json\`: \`npm init -y\` makes one):

\`\`\`sh
npm install --save-dev /path/to/tapgate   # a source checkout, after \`npm install\` in it
node --import tapgate/register --test ${name}.test.ts
\`\`\`

\`npm install\` of a folder links it (nothing is downloaded). \`tapgate/register\` loads
TypeScript with the loader tapgate itself runs on. The installed package also gives the
project \`npx tapgate\` (\`check\`, \`run\`). The gateway binary runs and checks plugins,
but carries no \`tapgate/sdk/testing\`: tests need the package.
`;
}

function pluginConfig(name: string): string {
  return `# An example configuration using ${name}: \`tapgate run --single -c tapgate.yaml\`,
# with an HTTP server on 127.0.0.1:9001 as the backend.
log:
  level: info
  access: true

frontends:
  web:
    bind: 127.0.0.1:8080
    mode: http
    default_backend: app
    plugins:
      - use: ./index.ts
        options:
          path: /${name}
          status: 200

backends:
  app:
    servers:
      - { name: a, address: 127.0.0.1:9001 }
`;
}
