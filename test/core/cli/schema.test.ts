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

  it("holds each backend's balance_options to its algorithm's schema, and balance to its argument", () => {
    const accepts = (backend: Record<string, unknown>) => {
      const config = routing();
      config.backends.api = { ...backend, servers: [{ name: 'a1', address: '127.0.0.1:9002' }] };
      return validate(config);
    };
    assert.ok(accepts({ balance: 'ewma', balance_options: { decay: '5s', choices: 3 } }), JSON.stringify(validate.errors));
    assert.ok(accepts({ balance: 'hdr(x-user)', balance_options: { hash_type: 'consistent', balance_factor: 1.25 } }), JSON.stringify(validate.errors));
    assert.ok(accepts({ balance: 'uri', balance_options: { whole: true } }), JSON.stringify(validate.errors));
    assert.ok(accepts({ balance_options: {} }), JSON.stringify(validate.errors));
    assert.equal(accepts({ balance: 'ewma', balance_options: { decay_ms: 5 } }), false);
    assert.equal(accepts({ balance: 'random', balance_options: { choices: 0 } }), false);
    assert.equal(accepts({ balance: 'source', balance_options: { hash_type: 'ring' } }), false);
    assert.equal(accepts({ balance: 'source', balance_options: { whole: true } }), false, "uri's option is not source's");
    assert.equal(accepts({ balance_options: { choices: 2 } }), false, 'the default algorithm, roundrobin, takes no options');
    assert.equal(accepts({ balance: 'hdr' }), false, 'hdr needs its header');
    assert.equal(accepts({ balance: 'leastconn(x)' }), false, 'leastconn takes no argument');
    assert.deepEqual(schema.definitions.Backend.properties.balance.examples, [
      'roundrobin',
      'source',
      'uri',
      'hdr',
      'cookie',
      'static-rr',
      'leastconn',
      'first',
      'random',
      'ewma',
    ]);
    assert.deepEqual(Object.keys(schema.definitions['ewma balance_options'].properties), ['decay', 'default_latency', 'choices']);
  });

  it("holds each route condition to its matcher's schema, nested in all, any and not", () => {
    const withMatch = (match: unknown) => {
      const config = routing();
      config.frontends.web.routes[1].match = match;
      return validate(config);
    };
    assert.ok(
      withMatch({ host: ['a.example.com', '*.b.example.com'], any: [{ path: { regex: '^/v[0-9]+/' } }, { not: { method: 'POST' } }] }),
      JSON.stringify(validate.errors),
    );
    assert.ok(withMatch({ claim: { role: 'admin' } }), JSON.stringify(validate.errors));
    assert.ok(withMatch({ geo: 'FR' }), 'a matcher from a plugin the schema was not told about stays open');
    assert.equal(withMatch({ path: 'v1' }), false, 'a path starts with /');
    assert.equal(withMatch({ any: [{ dst_port: 'eighty' }] }), false);
    assert.equal(withMatch({ not: { method: 'get' } }), false);
    assert.equal(withMatch({}), false);
  });

  it('with -c, holds a user plugin named by the config, and the algorithm it brings, to their own options schemas', () => {
    const dir = join(root, 'test', '.tmp', 'schema-user-plugin');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'greet.ts'),
      `import { z } from 'zod';\nimport { defineBalancer, definePlugin } from '${join(root, 'sdk', 'index.ts')}';\n` +
        `const spare = defineBalancer({ name: 'spare', options: z.strictObject({ keep: z.number().int() }), create: () => ({ pick: (_c, e) => e[0] }) });\n` +
        `export default definePlugin({ name: 'greet', version: '1.0.0', options: z.strictObject({ greeting: z.string() }), extensions: [spare], setup() {} });\n`,
    );
    const config = {
      workers: 0,
      frontends: { web: { bind: '127.0.0.1:8080', default_backend: 'b', plugins: [{ use: './greet.ts', options: { greeting: 'hi' } }] } },
      backends: { b: { balance: 'spare', balance_options: { keep: 1 } as Record<string, unknown>, servers: [{ name: 's', address: '127.0.0.1:9001' }] } },
    };
    writeFileSync(join(dir, 'tapgate.yaml'), JSON.stringify(config));
    const { validate } = schemaValidator('-c', join(dir, 'tapgate.yaml'));
    assert.ok(validate(config), JSON.stringify(validate.errors, null, 2));
    config.frontends.web.plugins[0]!.options.greeting = 42 as unknown as string;
    assert.equal(validate(config), false);
    config.frontends.web.plugins[0]!.options.greeting = 'hi';
    config.backends.b.balance_options = { keep: 'one' };
    assert.equal(validate(config), false);
  });
});
