// `tapgate schema`, run as the real CLI: its output is a JSON Schema that an independent
// validator (ajv, draft-07 as yaml-language-server reads it) applies to real configs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { root } from '../../helpers/gateway.ts';
import { builtinPlugins } from '../../../plugins/index.ts';

const bin = join(root, 'bin', 'tapgate.mjs');
const tapgate = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: root, encoding: 'utf8' });

function schemaValidator(...args: string[]) {
  const run = tapgate('schema', ...args);
  assert.equal(run.status, 0, run.stderr);
  const schema = JSON.parse(run.stdout);
  // Strict (the default): a keyword ajv does not know fails the compile.
  const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(schema);
  return { schema, validate };
}

const routing = () => parse(readFileSync(join(root, 'examples', 'routing', 'tapgate.yaml'), 'utf8'));

describe('tapgate schema', () => {
  const { schema, validate } = schemaValidator();

  it('accepts the routing example, durations and sizes written as a user writes them', () => {
    assert.equal(schema.$schema, 'http://json-schema.org/draft-07/schema#');
    assert.ok(validate(routing()), JSON.stringify(validate.errors, null, 2));
    const config = routing();
    config.hard_stop_after = '10s';
    config.frontends.web.limits = { max_header_size: '64k' };
    assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
  });

  it('refuses an unknown key, a malformed duration and a plugin option of the wrong type', () => {
    const unknownKey = routing();
    unknownKey.frontends.web.bnid = '127.0.0.1:8081';
    assert.equal(validate(unknownKey), false);

    const badDuration = routing();
    badDuration.hard_stop_after = 'soon';
    assert.equal(validate(badDuration), false);

    const badOption = routing();
    badOption.frontends.web.routes[0].plugins[0].options.status = 'permanent';
    assert.equal(validate(badOption), false);

    const unknownOption = routing();
    unknownOption.frontends.web.routes[0].plugins[0].options.too = 'https://example.com';
    assert.equal(validate(unknownOption), false);
  });

  it("names every built-in plugin's options", () => {
    for (const def of builtinPlugins) {
      if (!def.options) continue;
      const options = schema.definitions[`${def.name} options`];
      assert.ok(options, `no schema for ${def.name}`);
      const inSchema = JSON.stringify(options);
      const shape = (def.options as { shape?: Record<string, unknown> }).shape ?? {};
      for (const key of Object.keys(shape)) assert.ok(inSchema.includes(JSON.stringify(key)), `${def.name}: option ${key} missing`);
    }
  });

  it('with -c, holds a user plugin named by the config to its own options schema', () => {
    const dir = join(root, 'test', '.tmp', 'schema-user-plugin');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'greet.ts'),
      `import { z } from 'zod';\nimport { definePlugin } from '${join(root, 'sdk', 'index.ts')}';\n` +
        `export default definePlugin({ name: 'greet', version: '1.0.0', options: z.strictObject({ greeting: z.string() }), setup() {} });\n`,
    );
    const config = { workers: 0, frontends: { web: { bind: '127.0.0.1:8080', default_backend: 'b', plugins: [{ use: './greet.ts', options: { greeting: 'hi' } }] } }, backends: { b: { servers: [{ name: 's', address: '127.0.0.1:9001' }] } } };
    writeFileSync(join(dir, 'tapgate.yaml'), JSON.stringify(config));
    const { validate } = schemaValidator('-c', join(dir, 'tapgate.yaml'));
    assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
    config.frontends.web.plugins[0]!.options.greeting = 42 as unknown as string;
    assert.equal(validate(config), false);
  });
});
