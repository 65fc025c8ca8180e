// The API keys a plugin instance accepts, as SHA-256 digests: from the options and from
// a keys file, which is read again whenever a generation is built (every reload).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

export interface ApiKeyEntry {
  name: string;
  /** SHA-256 of the key, 64 lower-case hex digits. */
  key_sha256: string;
}

export const sha256Hex = /^[0-9a-fA-F]{64}$/;

/**
 * A keys file: `name:sha256hex` lines (blank lines and `#` comments allowed), or JSON,
 * either `[{ "name": ..., "key_sha256": ... }]` or `{ "name": "sha256hex" }`.
 * Throws with the file and line of the first thing it cannot read.
 */
export function readKeysFile(file: string, dir: string): ApiKeyEntry[] {
  let text: string;
  try {
    text = readFileSync(resolve(dir, file), 'utf8');
  } catch (err) {
    throw new Error(`keys_file (${file}): ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : 'unreadable'}`);
  }
  const where = (line?: number) => `keys_file (${file}${line === undefined ? '' : `, line ${line}`})`;
  const trimmed = text.trim();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let data: unknown;
    try {
      data = JSON.parse(trimmed);
    } catch (err) {
      throw new Error(`${where()}: not valid JSON: ${(err as Error).message}`);
    }
    const pairs: [unknown, unknown][] = Array.isArray(data)
      ? data.map((e) => [(e as ApiKeyEntry | null)?.name, (e as ApiKeyEntry | null)?.key_sha256])
      : Object.entries(data as Record<string, unknown>);
    return pairs.map(([name, hash], i) => {
      if (typeof name !== 'string' || name === '' || typeof hash !== 'string' || !sha256Hex.test(hash)) {
        throw new Error(`${where()}: entry ${Array.isArray(data) ? i : JSON.stringify(name)}: expected a name and a SHA-256 hex digest (64 hex digits)`);
      }
      return { name, key_sha256: hash.toLowerCase() };
    });
  }
  const out: ApiKeyEntry[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const colon = line.lastIndexOf(':');
    const name = line.slice(0, colon).trim();
    const hash = line.slice(colon + 1).trim();
    if (colon <= 0 || name === '' || !sha256Hex.test(hash)) throw new Error(`${where(i + 1)}: expected name:sha256hex (64 hex digits after the colon)`);
    out.push({ name, key_sha256: hash.toLowerCase() });
  });
  return out;
}

/** digest → name. Two names for one key would make a request's identity a matter of order: refused. */
export function keyTable(entries: readonly ApiKeyEntry[]): Map<string, string> {
  const table = new Map<string, string>();
  for (const { name, key_sha256 } of entries) {
    const hash = key_sha256.toLowerCase();
    const prior = table.get(hash);
    if (prior !== undefined && prior !== name) throw new Error(`the same key is listed for "${prior}" and "${name}"`);
    table.set(hash, name);
  }
  return table;
}
