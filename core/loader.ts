// Resolve a plugin reference from a config (`use:`) to its definition: a built-in by
// name, a file (compiled with esbuild when TypeScript), or an installed package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from '../sdk/index.ts';
import { compileModule } from './compile.ts';
import { cacheDir } from './config/source.ts';
import { satisfies } from './semver.ts';
import { gatewayVersion } from './version.ts';

export type AnyPluginDefinition = PluginDefinition<any>;

export class PluginLoadError extends Error {}

export async function loadPluginDefinition(
  use: string,
  configDir: string,
  builtins: ReadonlyMap<string, AnyPluginDefinition>,
): Promise<AnyPluginDefinition> {
  const builtin = builtins.get(use);
  if (builtin) return builtin;
  const isPath = use.startsWith('.') || isAbsolute(use);
  let mod: Record<string, unknown>;
  if (isPath) {
    const file = resolve(configDir, use);
    if (!existsSync(file)) throw new PluginLoadError(`plugin file not found: ${file}`);
    const ext = extname(file);
    const url = ext === '.ts' || ext === '.mts' || ext === '.tsx'
      ? pathToFileURL(await compileOrExplain(file, configDir)).href
      : pathToFileURL(file).href;
    mod = await import(url);
  } else {
    let resolved: string;
    try {
      resolved = createRequire(join(configDir, 'noop.js')).resolve(use);
    } catch {
      const names = [...builtins.keys()].join(', ');
      throw new PluginLoadError(`unknown plugin "${use}": not a built-in (${names}), a file path (start it with ./) or an installed package`);
    }
    mod = await import(pathToFileURL(resolved).href);
  }
  const def = (mod.default ?? mod.plugin) as AnyPluginDefinition | undefined;
  return checkDefinition(def, use);
}

async function compileOrExplain(file: string, configDir: string): Promise<string> {
  try {
    return await compileModule(file, cacheDir(configDir));
  } catch (err) {
    const first = ((err as { errors?: { text: string; location?: { line: number; column: number } }[] }).errors ?? [])[0];
    const where = first?.location ? `:${first.location.line}:${first.location.column}` : '';
    throw new PluginLoadError(`plugin ${file}${where} does not compile: ${first?.text ?? (err as Error).message}`);
  }
}

export function checkDefinition(def: AnyPluginDefinition | undefined, use: string): AnyPluginDefinition {
  if (!def || typeof def !== 'object') throw new PluginLoadError(`plugin "${use}" has no default export (export default definePlugin({...}))`);
  if (typeof def.name !== 'string' || !def.name) throw new PluginLoadError(`plugin "${use}" has no name`);
  if (typeof def.setup !== 'function') throw new PluginLoadError(`plugin "${def.name}" has no setup(api, options) function`);
  if (def.gateway && !satisfies(gatewayVersion, def.gateway)) {
    throw new PluginLoadError(`plugin "${def.name}" needs gateway ${def.gateway}, this is ${gatewayVersion}`);
  }
  return def;
}
