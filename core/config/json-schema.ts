// The whole configuration as one JSON Schema, for editors: the kernel's schema, with each
// plugin reference's `options` held to the options schema of the plugin it names, each
// backend's `balance_options` to its algorithm's, and each route condition to its
// matcher's. Draft-07, since yaml-language-server (VS Code's YAML extension and others)
// supports later drafts only partly.
import { z } from 'zod';
import type { AnyPluginDefinition } from '../loader.ts';
import type { BalancerExtension, MatcherExtension } from '../../sdk/index.ts';
import { Backend, GatewayConfig, PluginRef, Route } from '../../sdk/config.ts';

type JsonSchema = Record<string, unknown>;

/** zod's names for string checks that JSON Schema has no format for; each comes with a `pattern` saying the same. */
const pseudoFormats = new Set(['starts_with', 'ends_with', 'includes', 'lowercase', 'uppercase']);

const toJson = (schema: z.ZodType, metadata?: z.core.$ZodRegistry<{ id?: string }>): JsonSchema =>
  // The input side: what a user writes (`5s`, `64k`), before zod transforms it.
  z.toJSONSchema(schema, {
    target: 'draft-7',
    io: 'input',
    unrepresentable: 'any',
    override: ({ jsonSchema }) => {
      if (typeof jsonSchema.format === 'string' && pseudoFormats.has(jsonSchema.format)) delete jsonSchema.format;
    },
    ...(metadata ? { metadata } : {}),
  }) as JsonSchema;

/**
 * `plugins` maps what a config writes in `use:` (a built-in's name, or a user plugin's path
 * or package as written) to its definition.
 */
export function configJsonSchema(plugins: ReadonlyMap<string, AnyPluginDefinition>): JsonSchema {
  const ids = z.registry<{ id?: string }>();
  ids.add(PluginRef, { id: 'PluginRef' });
  ids.add(Backend, { id: 'Backend' });
  ids.add(Route, { id: 'Route' });
  const root = toJson(GatewayConfig, ids);
  const definitions = (root.definitions ?? {}) as Record<string, JsonSchema>;

  const named: JsonSchema[] = [];
  const needOptions: string[] = [];
  for (const [use, def] of plugins) {
    let options: JsonSchema = { type: 'object' };
    let required = false;
    if (def.options) {
      options = embed(toJson(def.options), `${use} options`, definitions);
      // Options the plugin cannot do without must be written.
      required = !def.options.safeParse({}).success;
      if (required) needOptions.push(use);
    }
    named.push({
      type: 'object',
      ...(def.description ? { description: def.description } : {}),
      properties: { use: { const: use }, options },
      required: required ? ['use', 'options'] : ['use'],
      additionalProperties: false,
    });
  }
  const ref = definitions.PluginRef!;
  const [name, object] = ref.anyOf as JsonSchema[];
  // Plugins not known here (packages, files of another config) keep the kernel's loose shape.
  const other = { ...object, properties: { ...(object!.properties as JsonSchema), use: { type: 'string', minLength: 1, not: { enum: [...plugins.keys()] } } } };
  definitions.PluginRef = {
    description: 'A plugin: its name, or { use, options } with the options its own schema accepts.',
    anyOf: [{ ...name, examples: [...plugins.keys()], ...(needOptions.length ? { not: { enum: needOptions } } : {}) }, ...named, other],
  };
  const balancers = new Map<string, BalancerExtension>();
  const matchers = new Map<string, MatcherExtension>();
  for (const def of plugins.values()) {
    for (const e of def.extensions ?? []) {
      if (e.kind === 'balancer') balancers.set(e.name, e);
      else if (e.kind === 'matcher') matchers.set(e.name, e);
    }
  }
  definitions.Backend = withBalancers(definitions.Backend!, balancers, definitions);
  definitions.Route = withMatchers(definitions.Route!, matchers, definitions);
  root.definitions = definitions;
  return { $schema: root.$schema, title: 'tapgate configuration', ...root };
}

/**
 * A backend's `balance_options` held to its algorithm's schema: one `if` (balance names
 * the algorithm, or is absent and it is the default) and `then` per algorithm. `then`
 * also says whether `balance` takes an argument, as `name(argument)`.
 */
function withBalancers(backend: JsonSchema, balancers: ReadonlyMap<string, BalancerExtension>, definitions: Record<string, JsonSchema>): JsonSchema {
  const fallback = Backend.shape.balance.parse(undefined);
  const properties = backend.properties as Record<string, JsonSchema>;
  properties.balance = { ...properties.balance, examples: [...balancers.keys()] };
  const rules = [...balancers.values()].map((b) => {
    const name = escapeRegex(b.name);
    const names = { properties: { balance: { type: 'string', pattern: `^\\s*${name}(\\(.*\\))?\\s*$` } }, required: ['balance'] };
    const argument = !b.argument ? '' : b.argument.safeParse(undefined).success ? '(\\(.*\\))?' : '\\(\\s*[^\\s)].*\\)';
    return {
      if: b.name === fallback ? { anyOf: [names, { not: { required: ['balance'] } }] } : names,
      then: {
        properties: {
          balance: {
            pattern: `^\\s*${name}${argument}\\s*$`,
            ...(b.argument?.description ? { description: `${b.name}(argument): ${b.argument.description}` } : {}),
          },
          balance_options: embed(toJson(described(b)), `${b.name} balance_options`, definitions),
        },
      },
    };
  });
  return rules.length ? { ...backend, allOf: rules } : backend;
}

/**
 * A route's `match` as a condition: each matcher's value held to its schema, `all`,
 * `any` and `not` nesting conditions. Other keys stay open: a matcher may come from a
 * plugin this schema was not told about.
 */
function withMatchers(route: JsonSchema, matchers: ReadonlyMap<string, MatcherExtension>, definitions: Record<string, JsonSchema>): JsonSchema {
  const condition = { $ref: pointer('Condition') };
  const properties: Record<string, JsonSchema> = {};
  for (const m of matchers.values()) properties[m.name] = embed(toJson(described(m)), `${m.name} matcher`, definitions);
  definitions.Condition = {
    description: 'Conditions: matcher kinds as keys (all must hold), or all, any, not.',
    type: 'object',
    minProperties: 1,
    properties: {
      ...properties,
      all: { type: 'array', minItems: 1, items: condition },
      any: { type: 'array', minItems: 1, items: condition },
      not: condition,
    },
  };
  return { ...route, properties: { ...(route.properties as Record<string, JsonSchema>), match: condition } };
}

/** An extension's options schema carrying its description, for editors (beside a `$ref`, draft-07 ignores one). */
const described = (e: { options: z.ZodType; description?: string }): z.ZodType => (e.description ? e.options.describe(e.description) : e.options);

const escapeRegex = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * A plugin's schema placed among the root's definitions as `name`, referred to from where
 * it is used. Its own definitions (zod writes some for recursive or registered schemas)
 * move there too, as `name/key`, and every ref inside follows them.
 */
function embed(schema: JsonSchema, name: string, definitions: Record<string, JsonSchema>): JsonSchema {
  const { $schema: _, definitions: own = {}, ...body } = schema as JsonSchema & { definitions?: Record<string, JsonSchema> };
  const rewrite = (v: unknown): unknown => {
    if (Array.isArray(v)) return v.map(rewrite);
    if (!v || typeof v !== 'object') return v;
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === '$ref' && typeof x === 'string' ? rewriteRef(x) : rewrite(x)]));
  };
  const rewriteRef = (ref: string) => {
    if (ref === '#') return pointer(name);
    const m = /^#\/definitions\/(.+)$/.exec(ref);
    return m ? pointer(`${name}/${decodeURIComponent(m[1]!).replace(/~1/g, '/').replace(/~0/g, '~')}`) : ref;
  };
  for (const [k, d] of Object.entries(own)) definitions[`${name}/${k}`] = rewrite(d) as JsonSchema;
  definitions[name] = rewrite(body) as JsonSchema;
  return { $ref: pointer(name) };
}

/** A JSON pointer to a definition, escaped (plugin paths hold "/"). */
const pointer = (key: string) => `#/definitions/${encodeURIComponent(key.replace(/~/g, '~0').replace(/\//g, '~1'))}`;
