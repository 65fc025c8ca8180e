// Where the harness writes a config and its files: a fresh folder inside the project,
// so that plugin sources written there resolve the project's packages.
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export function harnessDir(): string {
  const base = join(process.cwd(), '.tapgate', 'test');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 't-'));
}

/** Writes `files` into `dir`, by path relative to it. */
export function writeFiles(dir: string, files: Record<string, string>): void {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
}
