// Resolve a plugin reference from a config (`use:`) to its definition: a built-in by
// name, a file (compiled with esbuild when TypeScript), or an installed package.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname, isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { PluginDefinition } from '../sdk/index.ts';
import { CompileError, canCompile, compileModule } from './compile.ts';
import { binary } from './binary.ts';
import { cacheDir } from './config/source.ts';
import { didYouMean } from './config/problems.ts';
import { satisfies } from './semver.ts';
import { gatewayVersion } from './version.ts';

export type AnyPluginDefinition = PluginDefinition<any>;

export class PluginLoadError extends Error {
  constructor(message: string, readonly hint?: string) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

export async function loadPluginDefinition(
  use: string,
  configDir: string,
  builtins: ReadonlyMap<string, AnyPluginDefinition>,
): Promise<AnyPluginDefinition> {
  const builtin = builtins.get(use);
  if (builtin) return builtin;
  const isPath = use.startsWith('.') || isAbsolute(use);
  let file: string;
  if (isPath) {
    file = resolve(configDir, use);
    if (!existsSync(file)) throw new PluginLoadError(`plugin file ${file} does not exist`);
    const ext = extname(file);
    // Inside the binary a plugin's `tapgate/sdk` import exists only through esbuild:
    // JavaScript goes through it too when it can (see compile.ts).
    if (ext === '.ts' || ext === '.mts' || ext === '.tsx' || (binary && canCompile())) file = await compileOrExplain(file, configDir);
  } else {
    try {
      file = createRequire(join(configDir, 'noop.js')).resolve(use);
    } catch {
      throw new PluginLoadError(
        `unknown plugin "${use}": expected a built-in, a file path (starting with ./) or an installed package`,
        didYouMean(use, builtins.keys()) ?? `built-ins: ${[...builtins.keys()].join(', ')}`,
      );
    }
  }
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    const sdkMissing = binary && /Cannot find package 'tapgate'/.test(message);
    throw new PluginLoadError(
      `plugin "${use}" failed to load: ${message}`,
      sdkMissing ? 'without esbuild, the gateway binary loads .js/.mjs plugins as they are: import only types from tapgate/sdk, or put esbuild beside the binary' : undefined,
    );
  }
  const def = (mod.default ?? mod.plugin) as AnyPluginDefinition | undefined;
  return checkDefinition(def, use);
}

async function compileOrExplain(file: string, configDir: string): Promise<string> {
  try {
    return await compileModule(file, cacheDir(configDir));
  } catch (err) {
    if (err instanceof CompileError) throw new PluginLoadError(`plugin does not compile: ${err.message}`);
    throw err;
  }
}

export function checkDefinition(def: AnyPluginDefinition | undefined, use: string): AnyPluginDefinition {
  if (!def || typeof def !== 'object') throw new PluginLoadError(`plugin "${use}" has no default export (export default definePlugin({...}))`);
  if (typeof def.name !== 'string' || !def.name) throw new PluginLoadError(`plugin "${use}" has no name`);
  if (def.setup !== undefined && typeof def.setup !== 'function') throw new PluginLoadError(`plugin "${def.name}": setup is not a function`);
  if (def.extensions !== undefined && !Array.isArray(def.extensions)) throw new PluginLoadError(`plugin "${def.name}": extensions is not a list`);
  if (!def.setup && !def.extensions?.length) throw new PluginLoadError(`plugin "${def.name}" has neither a setup(api, options) function nor extensions`);
  if (def.gateway && !satisfies(gatewayVersion, def.gateway)) {
    throw new PluginLoadError(`plugin "${def.name}" needs gateway ${def.gateway}, but this is tapgate ${gatewayVersion}`);
  }
  return def;
}
