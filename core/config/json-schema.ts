// The whole configuration as one JSON Schema, for editors: the kernel's schema, with each
// plugin reference's `options` held to the options schema of the plugin it names.
// Draft-07, since yaml-language-server (VS Code's YAML extension and others) supports
// later drafts only partly.
import { z } from 'zod';
import type { AnyPluginDefinition } from '../loader.ts';
import { GatewayConfig, PluginRef } from '../../sdk/config.ts';

type JsonSchema = Record<string, unknown>;

const toJson = (schema: z.ZodType, metadata?: z.core.$ZodRegistry<{ id?: string }>): JsonSchema =>
  // The input side: what a user writes (`5s`, `64k`), before zod transforms it.
  z.toJSONSchema(schema, { target: 'draft-7', io: 'input', unrepresentable: 'any', ...(metadata ? { metadata } : {}) }) as JsonSchema;

/**
 * `plugins` maps what a config writes in `use:` (a built-in's name, or a user plugin's path
 * or package as written) to its definition.
 */
export function configJsonSchema(plugins: ReadonlyMap<string, AnyPluginDefinition>): JsonSchema {
  const ids = z.registry<{ id?: string }>();
  ids.add(PluginRef, { id: 'PluginRef' });
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
  root.definitions = definitions;
  return { $schema: root.$schema, title: 'tapgate configuration', ...root };
}

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
