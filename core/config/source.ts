// Read a configuration file (YAML or TypeScript) into plain data, keeping a way to
// point at the line and column of any key path for error messages.
import { readFileSync, mkdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { dirname, extname, join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LineCounter, isMap, isScalar, isSeq, parseDocument, type Node } from 'yaml';
import { CompileError, compileModule } from '../compile.ts';
import { formatPath, type KeyPath, type Problem } from './problems.ts';

export interface ConfigSource {
  file: string;
  dir: string;
  data: unknown;
  /** Line and column of the key (or value) at a path, when the format knows it. */
  locate(path: KeyPath, at?: 'key' | 'value'): { line: number; column: number } | undefined;
  problems: Problem[];
  /** The text read (a YAML configuration): what a master checked, which it hands its workers. */
  text?: string;
}

/**
 * Reads `file`; or, given `checked` (a copy of its text its master checked), that copy,
 * as if it were `file`: relative paths still resolve against the file's folder, and
 * problems name the file. A TypeScript configuration is a module its master compiled
 * (handed over as such, core/compile.ts): `checked` is not read for it.
 */
export async function readConfig(file: string, checked?: string): Promise<ConfigSource> {
  const abs = resolve(file);
  const dir = dirname(abs);
  let text: string;
  try {
    text = readFileSync(checked ?? abs, 'utf8');
  } catch (err) {
    return failed(abs, `cannot read the configuration: ${(err as Error).message}`);
  }
  const ext = extname(abs);
  if (ext === '.ts' || ext === '.mts' || ext === '.js' || ext === '.mjs') return readScriptConfig(abs, dir);
  return readYamlConfig(abs, dir, text);
}

/** What problems name for the file of a configuration given as an object. */
export const objectLabel = '(config object)';

/** A configuration given as an object (from code): its relative paths resolve against `dir`; its problems have no lines. */
export function objectSource(data: unknown, dir: string): ConfigSource {
  return { file: objectLabel, dir: resolve(dir), data, locate: () => undefined, problems: [] };
}

function failed(file: string, message: string, where: Pick<Problem, 'file' | 'line' | 'column'> = { file }): ConfigSource {
  return { file, dir: dirname(file), data: undefined, locate: () => undefined, problems: [{ severity: 'error', ...where, path: '', message }] };
}

function readYamlConfig(file: string, dir: string, text: string): ConfigSource {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const problems: Problem[] = [];
  for (const [severity, list] of [
    ['error', doc.errors],
    ['warning', doc.warnings],
  ] as const) {
    for (const e of list) {
      const pos = lineCounter.linePos(e.pos[0]);
      const duplicate = e.code === 'DUPLICATE_KEY' ? findDuplicate(doc.contents, e.pos[0]) : undefined;
      if (duplicate) {
        const first = duplicate.first.range ? lineCounter.linePos(duplicate.first.range[0]).line : undefined;
        problems.push({
          severity,
          file,
          line: pos.line,
          column: pos.col,
          path: formatPath(duplicate.path),
          message: `duplicate key "${duplicate.path.at(-1)}"${first ? ` (first at line ${first})` : ''}; the later one would replace the earlier`,
          hint: 'merge the two or rename one',
        });
      } else {
        problems.push({ severity, file, line: pos.line, column: pos.col, path: '', message: `YAML: ${e.message.split('\n')[0]}` });
      }
    }
  }
  const locate = (path: KeyPath, at: 'key' | 'value' = 'value') => {
    let node: unknown = doc.contents;
    let keyNode: Node | undefined;
    for (const part of path) {
      if (isMap(node)) {
        // The last of repeated keys, as it is the one whose value is used.
        const pair = [...node.items].reverse().find((p) => (isScalar(p.key) ? p.key.value : p.key) === part);
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
  // A repeated key leaves a usable document (the last one wins), so the rest is still checked.
  const usable = doc.errors.every((e) => e.code === 'DUPLICATE_KEY');
  return { file, dir, data: usable ? doc.toJS() : undefined, locate, problems, text };
}

/** The path of the map key at `offset`, and the earlier key it repeats. */
function findDuplicate(node: unknown, offset: number, path: KeyPath = []): { path: KeyPath; first: Node } | undefined {
  if (isMap(node)) {
    const keyOf = (p: (typeof node.items)[number]) => (isScalar(p.key) ? p.key.value : p.key);
    for (const pair of node.items) {
      const key = keyOf(pair) as string | number;
      if ((pair.key as Node | null)?.range?.[0] === offset) return { path: [...path, key], first: node.items.find((p) => keyOf(p) === key)!.key as Node };
      const found = findDuplicate(pair.value, offset, [...path, key]);
      if (found) return found;
    }
  } else if (isSeq(node)) {
    for (const [i, item] of node.items.entries()) {
      const found = findDuplicate(item, offset, [...path, i]);
      if (found) return found;
    }
  }
  return undefined;
}

async function readScriptConfig(file: string, dir: string): Promise<ConfigSource> {
  let compiled: string;
  try {
    compiled = await compileModule(file, cacheDir(dir));
  } catch (err) {
    if (err instanceof CompileError) {
      const more = err.more ? ` (and ${err.more} more error${err.more === 1 ? '' : 's'})` : '';
      return failed(file, `the configuration does not compile: ${err.text}${more}`, { file: err.file, line: err.line, column: err.column });
    }
    return failed(file, `the configuration does not compile: ${(err as Error).message.split('\n')[0]}`);
  }
  try {
    const mod = await import(pathToFileURL(compiled).href);
    const data = typeof mod.default === 'function' ? await mod.default() : mod.default;
    if (data === undefined) return failed(file, 'the configuration has no default export; expected export default defineConfig({ ... })');
    return { file, dir, data, locate: () => undefined, problems: [] };
  } catch (err) {
    return failed(file, `the configuration failed to load: ${(err as Error).message.split('\n')[0]}`);
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
