// Resolve a plugin reference from a config (`use:`) to its definition: a built-in by
// name, a file or an installed package. Files and packages, TypeScript or JavaScript, ESM
// or CommonJS, are compiled with esbuild (see compile.ts), so all load the same way and
// their `tapgate/sdk` is this gateway's; only the binary without esbuild imports
// JavaScript as it is.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isAbsolute, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import semver from 'semver';
import type { PluginDefinition } from '../sdk/index.ts';
import { CompileError, canCompile, compileModule } from './compile.ts';
import { binary } from './binary.ts';
import { cacheDir } from './config/source.ts';
import { didYouMean } from './config/problems.ts';
import { gatewayVersion } from './version.ts';

export type AnyPluginDefinition = PluginDefinition<any>;

export class PluginLoadError extends Error {
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'PluginLoadError';
  }
}

export async function loadPluginDefinition(use: string, configDir: string, builtins: ReadonlyMap<string, AnyPluginDefinition>): Promise<AnyPluginDefinition> {
  const builtin = builtins.get(use);
  if (builtin) return builtin;
  const isPath = use.startsWith('.') || isAbsolute(use);
  let file: string;
  if (isPath) {
    file = resolve(configDir, use);
    if (!existsSync(file)) throw new PluginLoadError(`plugin file ${file} does not exist`);
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
  if (canCompile() || /\.[cm]?tsx?$/.test(file)) file = await compileOrExplain(file, configDir);
  let mod: Record<string, unknown>;
  try {
    mod = await import(pathToFileURL(file).href);
  } catch (err) {
    const message = (err as Error).message.split('\n')[0]!;
    const sdkMissing = binary && /Cannot find package 'tapgate'/.test(message);
    throw new PluginLoadError(
      `plugin "${use}" failed to load: ${message}`,
      sdkMissing
        ? 'without esbuild, the gateway binary loads .js/.mjs plugins as they are: import only types from tapgate/sdk, or put esbuild beside the binary'
        : undefined,
    );
  }
  const exported = (mod.default ?? mod.plugin) as (AnyPluginDefinition & { __esModule?: boolean; default?: AnyPluginDefinition }) | undefined;
  // CommonJS compiled from TypeScript sets `exports.default`, under module.exports.
  return checkDefinition(exported?.__esModule ? exported.default : exported, use);
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
  if (def.gateway !== undefined) {
    if (typeof def.gateway !== 'string' || semver.validRange(def.gateway) === null) {
      throw new PluginLoadError(
        `plugin "${def.name}" has gateway ${JSON.stringify(def.gateway)}, which is not a semver range`,
        'for example "^0.1" or ">=0.1 <2"',
      );
    }
    if (!supportsGateway(def.gateway, gatewayVersion)) {
      throw new PluginLoadError(`plugin "${def.name}" needs gateway ${def.gateway}, but this is tapgate ${gatewayVersion}`);
    }
  }
  return def;
}

/**
 * Whether a plugin's `gateway` range admits this gateway `version`, by npm's semver rules.
 * A prerelease counts as the release it leads to: 0.2.0-rc.1 runs `^0.2` plugins.
 */
export function supportsGateway(range: string, version: string): boolean {
  const release = semver.parse(version);
  return release !== null && semver.satisfies(`${release.major}.${release.minor}.${release.patch}`, range);
}
