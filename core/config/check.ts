// `check`: everything that can be known about a configuration before it serves.
// Every problem is collected, none stops the others from being found: syntax, the
// schema (unknown keys, missing items, types), references between sections, port
// conflicts, plugins (found, compiled, options), algorithms, TLS files (readable,
// parsable, keys matching). Unreachable servers and certificates outside their
// validity are warnings. The same check runs before `run` and before every reload.
import net from 'node:net';
import type { Logger } from 'pino';
import { z } from 'zod';
import { readConfig, type ConfigSource } from './source.ts';
import { GatewayConfig, type GatewayConfig as Config } from '../../sdk/config.ts';
import { describeValue, didYouMean, formatPath, validate, type KeyPath, type Problem } from './problems.ts';
import { formatAddress, parseAddress } from '../../sdk/units.ts';
import { buildGeneration, GenerationError, type Generation } from '../generation.ts';
import type { AnyPluginDefinition } from '../loader.ts';

export interface CheckOptions {
  builtins: ReadonlyMap<string, AnyPluginDefinition>;
  logger: Logger;
  generationId?: number;
  /** Try a TCP connection to every server and warn about those that do not answer. */
  probeServers?: boolean;
  /** Keep the built generation (for `run`); otherwise it is disposed. */
  keep?: boolean;
  /** The generation's clock (ms), handed to plugins as `api.now`; tests move it. */
  now?: () => number;
}

export interface CheckResult {
  ok: boolean;
  /** In the order of the file. */
  problems: Problem[];
  source: ConfigSource;
  config?: Config;
  generation?: Generation;
}

type Locate = ConfigSource['locate'];
type ReportError = (path: KeyPath, message: string, hint?: string, at?: 'key' | 'value') => void;

/** Checks a configuration file, or a configuration already read (`objectSource`). */
export async function checkConfig(config: string | ConfigSource, o: CheckOptions): Promise<CheckResult> {
  const source = typeof config === 'string' ? await readConfig(config) : config;
  const problems: Problem[] = [...source.problems];
  const at = (path: KeyPath, where: 'key' | 'value' = 'value') => ({ ...source.locate(path, where), path: formatPath(path) });
  const error: ReportError = (path, message, hint, where = 'value') =>
    problems.push({ severity: 'error', file: source.file, ...at(path, where), message, ...(hint ? { hint } : {}) });

  if (source.data === undefined) return done(problems, source);
  const raw = source.data;
  if (!isRecord(raw)) {
    error([], `expected a mapping of sections (frontends, backends, ...), found ${raw === null ? 'an empty document' : describeValue(raw)}`);
    return done(problems, source);
  }
  const checked = validate(GatewayConfig, raw);
  if (!checked.success) for (const r of checked.reports) error(r.path, r.message, r.hint, r.at);
  checkReferences(raw, error, source.locate);
  if (checked.success) checkStats(checked.data, error);

  // Plugins and algorithms are checked on whatever the schema accepts, so a mistake in
  // one section does not hide those in the plugins.
  const usable = checked.success ? { config: checked.data, pathInFile: (path: KeyPath) => path } : salvage(raw);
  if (!usable) return done(problems, source);
  const inFile = (path: KeyPath, where?: 'key' | 'value') => at(usable.pathInFile(path), where);
  let generation: Generation | undefined;
  try {
    generation = await buildGeneration({
      id: o.generationId ?? 1,
      config: usable.config,
      file: source.file,
      dir: source.dir,
      builtins: o.builtins,
      logger: o.logger,
      where: inFile,
      now: o.now,
    });
    problems.push(...generation.warnings);
  } catch (err) {
    if (err instanceof GenerationError) problems.push(...err.problems);
    else problems.push({ severity: 'error', file: source.file, path: '', message: (err as Error).message });
  }
  if (o.probeServers)
    problems.push(...(await Promise.all([probeServers(usable.config, source.file, inFile), ...(generation?.probes ?? []).map((probe) => probe())])).flat());
  const result = done(problems, source, checked.success ? checked.data : undefined);
  if (generation && o.keep && result.ok) result.generation = generation;
  else await generation?.dispose();
  return result;
}

function done(problems: Problem[], source: ConfigSource, config?: Config): CheckResult {
  const fileOrder = (p: Problem) => (p.file === source.file ? '' : p.file);
  problems.sort((a, b) => fileOrder(a).localeCompare(fileOrder(b)) || (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  return { ok: !problems.some((p) => p.severity === 'error'), problems, source, config };
}

/** Cross-section checks, on the raw data so they run even when the schema failed elsewhere. */
function checkReferences(raw: Record<string, unknown>, error: ReportError, locate: Locate): void {
  const frontends = isRecord(raw.frontends) ? raw.frontends : {};
  const backends = isRecord(raw.backends) ? raw.backends : {};
  const backendNames = Object.keys(backends);
  const frontendNames = Object.keys(frontends);
  const bound = new Map<string, { frontend: string; path: KeyPath }>();
  // Every place that sends traffic to a backend, with the mode of its frontend.
  const uses: { path: KeyPath; frontend: string; backend: string; mode: string }[] = [];
  const handedTo = new Set<string>();
  for (const [name, fe] of Object.entries(frontends)) {
    if (!isRecord(fe)) continue;
    const mode = typeof fe.mode === 'string' ? fe.mode : 'http';
    if (typeof fe.default_backend === 'string') uses.push({ path: ['frontends', name, 'default_backend'], frontend: name, backend: fe.default_backend, mode });
    (Array.isArray(fe.routes) ? fe.routes : []).forEach((r, i) => {
      if (!isRecord(r)) return;
      const path: KeyPath = ['frontends', name, 'routes', i];
      if (typeof r.backend === 'string') uses.push({ path: [...path, 'backend'], frontend: name, backend: r.backend, mode });
      if (typeof r.frontend !== 'string') return;
      if (mode !== 'tcp') error([...path, 'frontend'], 'only a tcp frontend hands connections to another frontend', 'route to a backend instead');
      else if (r.frontend === name) error([...path, 'frontend'], 'a frontend cannot hand connections to itself');
      else if (!(r.frontend in frontends))
        error(
          [...path, 'frontend'],
          `frontend "${r.frontend}" does not exist`,
          didYouMean(r.frontend, frontendNames) ?? `frontends: ${frontendNames.join(', ')}`,
        );
      else if (typeof r.backend === 'string')
        error([...path, 'frontend'], 'a route hands its connection to a frontend or sends it to a backend, not both', 'remove "backend" or "frontend"');
      handedTo.add(r.frontend);
    });
    const binds = Array.isArray(fe.bind) ? fe.bind : fe.bind === undefined ? [] : [fe.bind];
    binds.forEach((b, i) => {
      const address = typeof b === 'string' ? parseAddress(b) : undefined;
      if (!address || address.port === 0) return;
      const path: KeyPath = Array.isArray(fe.bind) ? ['frontends', name, 'bind', i] : ['frontends', name, 'bind'];
      for (const [key, other] of bound) {
        const [host, port] = splitKey(key);
        const overlaps =
          port === address.port && (host === address.host || host === '0.0.0.0' || address.host === '0.0.0.0' || host === '::' || address.host === '::');
        if (!overlaps) continue;
        const line = locate(other.path)?.line;
        const by = other.frontend === name ? 'this frontend' : `frontend "${other.frontend}"`;
        error(path, `${formatAddress(address)} is already bound by ${by} (${formatPath(other.path)}${line ? `, line ${line}` : ''})`);
      }
      bound.set(formatAddress(address), { frontend: name, path });
    });
  }
  for (const [name, fe] of Object.entries(frontends)) {
    if (isRecord(fe) && fe.bind === undefined && !handedTo.has(name)) {
      error(['frontends', name], `frontend "${name}" has no "bind" and no tcp route hands connections to it, so it never serves`, 'add bind: host:port', 'key');
    }
  }
  const modesOf = new Map<string, Set<string>>();
  for (const u of uses) modesOf.set(u.backend, (modesOf.get(u.backend) ?? new Set()).add(u.mode));
  for (const u of uses) {
    const be = backends[u.backend];
    if (!(u.backend in backends)) {
      error(
        u.path,
        `backend "${u.backend}" does not exist`,
        didYouMean(u.backend, backendNames) ?? (backendNames.length ? `backends: ${backendNames.join(', ')}` : 'no backends are defined'),
      );
    } else if (isRecord(be) && typeof be.mode === 'string' && be.mode !== u.mode) {
      error(
        u.path,
        `frontend "${u.frontend}" is mode ${u.mode}, but its backend "${u.backend}" declares mode ${be.mode}`,
        `use a backend with mode ${u.mode}, or set mode: ${u.mode} on "${u.backend}"`,
      );
    } else if (modesOf.get(u.backend)!.size > 1) {
      error(u.path, `backend "${u.backend}" is used by both http and tcp frontends`, 'give each mode its own backend');
    } else if (u.mode === 'tcp' && isRecord(be) && be.protocol !== undefined && be.protocol !== 'h1') {
      error(
        ['backends', u.backend, 'protocol'],
        `protocol ${String(be.protocol)} is spoken by http frontends, but frontend "${u.frontend}" is mode tcp`,
        'remove protocol: a tcp backend passes bytes as they come',
      );
    }
  }
}

/** A stats listener reachable from other machines must ask who is calling. */
function checkStats(config: Config, error: ReportError): void {
  const stats = config.stats;
  if (!stats) return;
  const a = parseAddress(stats.bind)!;
  if (!isLoopback(a.host) && !stats.token && !stats.basic_auth) {
    error(
      ['stats', 'bind'],
      `the stats listener on ${formatAddress(a)} is reachable beyond this machine without protection`,
      'bind it to 127.0.0.1 or ::1, or set stats.token or stats.basic_auth',
    );
  }
  for (const fe of Object.values(config.frontends)) {
    for (const b of [fe.bind ?? []].flat()) {
      const f = parseAddress(b)!;
      if (f.port !== 0 && f.port === a.port && (f.host === a.host || f.host === '0.0.0.0' || a.host === '0.0.0.0'))
        error(['stats', 'bind'], `${formatAddress(a)} is also bound by a frontend`);
    }
  }
}

/** 127.0.0.0/8, ::1, and IPv4-mapped loopback. */
export function isLoopback(host: string): boolean {
  const h = host.startsWith('::ffff:') ? host.slice(7) : host;
  return h === '::1' || h === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

function splitKey(key: string): [string, number] {
  const a = parseAddress(key)!;
  return [a.host, a.port];
}

/** What `salvage` keeps of a configuration; any number of frontends, even none. */
const Salvageable = GatewayConfig.extend({ frontends: z.record(GatewayConfig.shape.frontends.keyType, GatewayConfig.shape.frontends.valueType) });

/**
 * The configuration with every part the schema refuses left out, one at a time (an
 * unknown key; a bad value; the item or section holding a missing key), so plugins and
 * algorithms can be checked on the rest. With it, a way back from a path in it to the
 * same place in the file, since leaving out a list item moves the items after it.
 */
function salvage(raw: Record<string, unknown>): { config: Config; pathInFile: (path: KeyPath) => KeyPath } | undefined {
  const data = copyTree(raw) as Record<string, unknown>;
  // For each list shortened, the index in the file of every item still in it.
  const fileIndex = new WeakMap<unknown[], number[]>();
  const pathInFile = (path: KeyPath): KeyPath => {
    let node: unknown = data;
    return path.map((part) => {
      const inFile = Array.isArray(node) && typeof part === 'number' ? (fileIndex.get(node)?.[part] ?? part) : part;
      node = isRecord(node) || Array.isArray(node) ? (node as Record<string | number, unknown>)[part] : undefined;
      return inFile;
    });
  };
  const leaveOut = (path: KeyPath): boolean => {
    const parent = valueAt(data, path.slice(0, -1));
    const key = path.at(-1);
    if (Array.isArray(parent) && typeof key === 'number' && key < parent.length) {
      const indexes = fileIndex.get(parent) ?? parent.map((_, i) => i);
      indexes.splice(key, 1);
      parent.splice(key, 1);
      fileIndex.set(parent, indexes);
      return true;
    }
    if (isRecord(parent) && key !== undefined && key in parent) return delete parent[key];
    return false;
  };
  for (;;) {
    const parsed = Salvageable.safeParse(data);
    if (parsed.success) return { config: parsed.data, pathInFile };
    const issue = parsed.error.issues[0]!;
    const path = issue.path as (string | number)[];
    if (issue.code === 'unrecognized_keys') {
      if (!issue.keys.every((key) => leaveOut([...path, key]))) return undefined;
    } else if (!leaveOut(valueAt(data, path) === undefined ? path.slice(0, -1) : path)) return undefined;
  }
}

/** A copy of the plain objects and lists in a tree; anything else (a function in a TS config) is shared. */
function copyTree(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copyTree);
  if (isRecord(v) && Object.getPrototypeOf(v) === Object.prototype) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, copyTree(x)]));
  return v;
}

async function probeServers(config: Config, file: string, at: (path: KeyPath) => Pick<Problem, 'path' | 'line' | 'column'>): Promise<Problem[]> {
  const checks = Object.entries(config.backends).flatMap(([name, be]) =>
    be.servers.map(async (s, i) => {
      const a = parseAddress(s.address)!;
      const reason = await tryConnect(a.host === '0.0.0.0' ? '127.0.0.1' : a.host, a.port, 1000);
      return reason
        ? ({
            severity: 'warning',
            file,
            ...at(['backends', name, 'servers', i, 'address']),
            message: `server ${s.name} at ${s.address} is unreachable now (${reason})`,
          } as Problem)
        : undefined;
    }),
  );
  return (await Promise.all(checks)).filter((p): p is Problem => p !== undefined);
}

function tryConnect(host: string, port: number, timeout: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.setTimeout(timeout, () => {
      socket.destroy();
      resolve('no answer');
    });
    socket.once('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function valueAt(raw: unknown, path: KeyPath): unknown {
  let v = raw;
  for (const p of path) v = isRecord(v) || Array.isArray(v) ? (v as Record<string | number, unknown>)[p] : undefined;
  return v;
}
