// `tapgate schema [-c FILE]`: the configuration's JSON Schema on stdout, for editors
// (`# yaml-language-server: $schema=./tapgate.schema.json`). Built-in plugins always; with
// -c, also the user plugins that configuration names, loaded as `check` loads them.
import { parseArgs } from 'node:util';
import { configJsonSchema } from '../config/json-schema.ts';
import { readConfig } from '../config/source.ts';
import { formatProblem } from '../config/problems.ts';
import { loadPluginDefinition, type AnyPluginDefinition } from '../loader.ts';

export async function schemaCommand(argv: string[], builtins: ReadonlyMap<string, AnyPluginDefinition>): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } } });
  const plugins = new Map<string, AnyPluginDefinition>(builtins);
  if (values.config) {
    const source = await readConfig(values.config);
    if (source.problems.length) {
      process.stderr.write(source.problems.map(formatProblem).join('\n') + '\n');
      return 1;
    }
    let failed = false;
    for (const use of pluginUses(source.data)) {
      if (plugins.has(use)) continue;
      try {
        plugins.set(use, await loadPluginDefinition(use, source.dir, builtins));
      } catch (err) {
        process.stderr.write(`tapgate schema: ${(err as Error).message}\n`);
        failed = true;
      }
    }
    // Not silently a schema without that plugin's options: the config is broken (check says more).
    if (failed) return 1;
  }
  process.stdout.write(JSON.stringify(configJsonSchema(plugins), null, 2) + '\n');
  return 0;
}

/** Every `use` written in the gateway's, the frontends' and the routes' plugin lists. */
function pluginUses(data: unknown): string[] {
  const uses: string[] = [];
  const list = (v: unknown) => {
    if (!Array.isArray(v)) return;
    for (const ref of v) {
      const use = typeof ref === 'string' ? ref : (ref as { use?: unknown } | null)?.use;
      if (typeof use === 'string' && use) uses.push(use);
    }
  };
  const record = data as { plugins?: unknown; frontends?: Record<string, { plugins?: unknown; routes?: { plugins?: unknown }[] }> } | undefined;
  list(record?.plugins);
  for (const fe of Object.values(record?.frontends ?? {})) {
    list(fe?.plugins);
    if (Array.isArray(fe?.routes)) for (const r of fe.routes) list(r?.plugins);
  }
  return uses;
}
