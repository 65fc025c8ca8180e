// Read a configuration file (YAML or TypeScript) into plain data, keeping a way to
// point at the line and column of any key path for error messages.
import { readFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { compileModule } from '../compile.ts';
import type { KeyPath, Problem } from './problems.ts';

export interface ConfigSource {
  file: string;
  dir: string;
  data: unknown;
  /** Line and column of the key (or value) at a path, when the format knows it. */
  locate(path: KeyPath, at?: 'key' | 'value'): { line: number; column: number } | undefined;
  problems: Problem[];
}

export async function readConfig(file: string): Promise<ConfigSource> {
  const abs = resolve(file);
  const dir = dirname(abs);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    return failed(abs, `cannot read the configuration: ${(err as Error).message}`);
  }
  const ext = extname(abs);
  if (ext === '.ts' || ext === '.mts' || ext === '.js' || ext === '.mjs') return readScriptConfig(abs, dir);
  return readYamlConfig(abs, dir, text);
}

function failed(file: string, message: string): ConfigSource {
  return { file, dir: dirname(file), data: undefined, locate: () => undefined, problems: [{ severity: 'error', file, path: '', message }] };
}

function readYamlConfig(file: string, dir: string, text: string): ConfigSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = [];
  for (const [severity, list] of [['error', doc.errors], ['warning', doc.warnings]] as const) {
    for (const e of list) {
      const pos = lineCounter.linePos(e.pos[0]);
      problems.push({ severity, file, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
    }
  }
  const locate = (path: KeyPath, at: 'key' | 'value' = 'value') => {
    let node: unknown = doc.contents;
    let keyNode: Node | undefined;
    for (const part of path) {
      if (isMap(node)) {
        const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === part);
        if (!pair) break;
        keyNode = pair.key as Node;
        node = pair.value;
      } else if (isSeq(node) && typeof part === 'number') {
        keyNode = undefined;
        node = node.items[part];
      } else break;
    }
    const target = (at === 'key' && keyNode) || (node as Node | null) || keyNode;
    const offset = target?.range?.[0];
    if (offset === undefined) return undefined;
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, column: pos.col };
  };
  return { file, dir, data: problems.some((p) => p.severity === 'error') ? undefined : doc.toJS(), locate, problems };
}

async function readScriptConfig(file: string, dir: string): Promise<ConfigSource> {
  try {
    const compiled = await compileModule(file, cacheDir(dir));
    const mod = await import(pathToFileURL(compiled).href);
    const data = typeof mod.default === 'function' ? await mod.default() : mod.default;
    return { file, dir, data, locate: () => undefined, problems: [] };
  } catch (err) {
    return failed(file, `cannot load the configuration: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Compiled configs and plugins live in the project, never in /tmp. */
export function cacheDir(configDir: string): string {
  const dir = join(configDir, '.tapgate', 'cache');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function contentHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 16);
}
