// What a reload would change, in words: frontends, backends, servers and plugins
// added, removed or changed. `tapgate reload --plan` prints it without applying it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { GatewayConfig, PluginRefConfig } from '../../sdk/config.ts';

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** `loaded`: hashes of plugin files as the running generation loaded them (see `pluginSourceHashes`). */
export function planChanges(before: GatewayConfig, after: GatewayConfig, dir: string, loaded: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  diffNamed('frontend', before.frontends, after.frontends, out, (name, a, b) => {
    const keys = changedKeys(a, b).filter((k) => k !== 'plugins');
    const lines = keys.map((k) => `~ frontend ${name}: ${k} ${show(a[k as keyof typeof a])} -> ${show(b[k as keyof typeof b])}`);
    return [...lines, ...diffPlugins(`frontend ${name}`, a.plugins, b.plugins)];
  });
  diffNamed('backend', before.backends, after.backends, out, (name, a, b) => {
    const lines = changedKeys(a, b)
      .filter((k) => k !== 'servers')
      .map((k) => `~ backend ${name}: ${k} ${show(a[k as keyof typeof a])} -> ${show(b[k as keyof typeof b])}`);
    const servers = (list: typeof a.servers) => Object.fromEntries(list.map((s) => [s.name, s]));
    diffNamed(`backend ${name}: server`, servers(a.servers), servers(b.servers), lines, (s, x, y) =>
      changedKeys(x, y).map((k) => `~ backend ${name}: server ${s} ${k} ${show(x[k as keyof typeof x])} -> ${show(y[k as keyof typeof y])}`),
    );
    return lines;
  });
  out.push(...diffPlugins('gateway', before.plugins, after.plugins));
  // Plugin files edited since the running generation loaded them, wherever they are used.
  const uses: [string, PluginRefConfig[]][] = [
    ['gateway', after.plugins],
    ...Object.entries(after.frontends).map(([n, f]): [string, PluginRefConfig[]] => [`frontend ${n}`, f.plugins]),
  ];
  for (const [where, refs] of uses) {
    for (const ref of refs) {
      const file = pluginFile(ref, dir);
      if (file && loaded.has(file) && fileHash(file) !== loaded.get(file))
        out.push(`~ ${where}: plugin ${typeof ref === 'string' ? ref : ref.use} source changed`);
    }
  }
  for (const k of ['workers', 'log', 'defaults', 'hard_stop_after', 'prepare_timeout', 'control'] as const) {
    if (!same(before[k], after[k])) out.push(`~ ${k}: ${show(before[k])} -> ${show(after[k])}`);
  }
  return out;
}

function diffNamed<T>(kind: string, a: Record<string, T>, b: Record<string, T>, out: string[], changed: (name: string, a: T, b: T) => string[]): void {
  for (const name of Object.keys(b)) if (!(name in a)) out.push(`+ ${kind} ${name}`);
  for (const name of Object.keys(a)) if (!(name in b)) out.push(`- ${kind} ${name}`);
  for (const name of Object.keys(a)) if (name in b && !same(a[name], b[name])) out.push(...changed(name, a[name]!, b[name]!));
}

function changedKeys<T extends object>(a: T, b: T): string[] {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].filter((k) => !same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

function diffPlugins(where: string, a: PluginRefConfig[], b: PluginRefConfig[]): string[] {
  const use = (r: PluginRefConfig) => (typeof r === 'string' ? r : r.use);
  const out: string[] = [];
  const before = a.map(use);
  const after = b.map(use);
  for (const u of after) if (!before.includes(u)) out.push(`+ ${where}: plugin ${u}`);
  for (const u of before) if (!after.includes(u)) out.push(`- ${where}: plugin ${u}`);
  if (
    !same(
      before.filter((u) => after.includes(u)),
      after.filter((u) => before.includes(u)),
    )
  )
    out.push(`~ ${where}: plugin order ${before.join(', ')} -> ${after.join(', ')}`);
  for (const ref of b) {
    const old = a.find((r) => use(r) === use(ref));
    if (old && !same(typeof old === 'string' ? {} : old.options, typeof ref === 'string' ? {} : ref.options))
      out.push(`~ ${where}: plugin ${use(ref)} options changed`);
  }
  return out;
}

/** Hashes of the plugin files a config names, to tell later which were edited. */
export function pluginSourceHashes(config: GatewayConfig, dir: string): Map<string, string> {
  const hashes = new Map<string, string>();
  for (const ref of [...config.plugins, ...Object.values(config.frontends).flatMap((f) => f.plugins)]) {
    const file = pluginFile(ref, dir);
    if (file) hashes.set(file, fileHash(file));
  }
  return hashes;
}

function pluginFile(ref: PluginRefConfig, dir: string): string | undefined {
  const u = typeof ref === 'string' ? ref : ref.use;
  return u.startsWith('.') || isAbsolute(u) ? resolve(dir, u) : undefined;
}

function fileHash(file: string): string {
  try {
    return createHash('sha256').update(readFileSync(file)).digest('hex');
  } catch {
    return 'missing';
  }
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'unset' : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}
