// A real headless Chromium (Debian's package, installed by scripts/setup.sh) driven by
// playwright-core. A missing browser fails the test that asks for it, never skips it.
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';

/** $CHROMIUM_PATH, else the first chromium on PATH. */
export function chromiumPath(): string {
  if (process.env.CHROMIUM_PATH) return process.env.CHROMIUM_PATH;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) if (existsSync(join(dir, name))) return join(dir, name);
  }
  throw new Error(
    "Chromium not found (looked for chromium and chromium-browser on PATH, and $CHROMIUM_PATH): run scripts/setup.sh, which installs Debian's chromium package",
  );
}

export function launchChromium(): Promise<Browser> {
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: chromiumPath(), args: ['--no-sandbox', '--disable-dev-shm-usage'] });
}
