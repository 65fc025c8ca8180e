// `check`: everything that can be known about a configuration before it serves.
// Every problem is collected, none stops the others from being found: syntax, the
// schema (unknown keys, missing items, types), references between sections, port
// conflicts, plugins (found, compiled, options), algorithms. Unreachable servers are
// warnings. The same check runs before `run` and before every reload.
import net from 'node:net';
import type { Logger } from 'pino';
import { readConfig, type ConfigSource } from './source.ts';
import { GatewayConfig, type GatewayConfig as Config } from './schema.ts';
import { describeValue, didYouMean, formatPath, type KeyPath, type Problem } from './problems.ts';
import { formatAddress, parseAddress } from './units.ts';
import { buildGeneration, backendModes, GenerationError, type Generation } from '../generation.ts';
import type { AnyPluginDefinition } from '../loader.ts';

export interface CheckOptions {
  builtins: ReadonlyMap<string, AnyPluginDefinition>;
  logger: Logger;
  generationId?: number;
  /** Try a TCP connection to every server and warn about those that do not answer. */
  probeServers?: boolean;
  /** Keep the built generation (for `run`); otherwise it is disposed. */
  keep?: boolean;
}

export interface CheckResult {
  ok: boolean;
  problems: Problem[];
  source: ConfigSource;
  config?: Config;
  generation?: Generation;
}

export async function checkConfig(file: string, o: CheckOptions): Promise<CheckResult> {
  const source = await readConfig(file);
  const problems: Problem[] = [...source.problems];
  const at = (path: KeyPath, at: 'key' | 'value' = 'value') => ({ file: source.file, ...source.locate(path, at), path: formatPath(path) });
  const error = (path: KeyPath, message: string, hint?: string, where: 'key' | 'value' = 'value') =>
    problems.push({ severity: 'error', ...at(path, where), message, ...(hint ? { hint } : {}) });

  if (source.data === undefined) return done(problems, source);
  const raw = source.data as Record<string, unknown>;

  const parsed = GatewayConfig.safeParse(raw, { reportInput: true });
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const path = issue.path as (string | number)[];
      if (issue.code === 'unrecognized_keys') {
        const known = knownKeys(path);
        for (const key of issue.keys) error([...path, key], `unknown key "${key}"`, didYouMean(key, known) ?? (known.length ? `expected one of: ${known.join(', ')}` : undefined), 'key');
      } else if (issue.code === 'invalid_type' && issue.input === undefined) {
        error(path, `missing required ${issue.expected === 'object' ? 'section' : issue.expected === 'array' ? 'list' : 'key'}`, undefined, 'key');
      } else {
        error(path, `${issue.message.replace(/^Invalid input: /, '')}, found ${describeValue(issue.input ?? valueAt(raw, path))}`);
      }
    }
  }
  checkReferences(raw, error);

  if (!parsed.success || problems.some((p) => p.severity === 'error')) return done(problems, source);

  const config = parsed.data;
  try {
    const generation = await buildGeneration({
      id: o.generationId ?? 1,
      config,
      file: source.file,
      dir: source.dir,
      builtins: o.builtins,
      logger: o.logger,
      locate: (path) => source.locate(path),
    });
    if (o.probeServers) problems.push(...(await probeServers(config, at)));
    if (!o.keep) await generation.dispose();
    return { ok: true, problems, source, config, generation: o.keep ? generation : undefined };
  } catch (err) {
    if (err instanceof GenerationError) problems.push(...err.problems);
    else problems.push({ severity: 'error', file: source.file, path: '', message: (err as Error).message });
    return done(problems, source, config);
  }
}

function done(problems: Problem[], source: ConfigSource, config?: Config): CheckResult {
  return { ok: !problems.some((p) => p.severity === 'error'), problems, source, config };
}

/** Cross-section checks, on the raw data so they run even when the schema failed elsewhere. */
function checkReferences(raw: Record<string, unknown>, error: (path: KeyPath, message: string, hint?: string) => void): void {
  const frontends = isRecord(raw.frontends) ? raw.frontends : {};
  const backends = isRecord(raw.backends) ? raw.backends : {};
  const backendNames = Object.keys(backends);
  const bound = new Map<string, { frontend: string; path: KeyPath }>();
  for (const [name, fe] of Object.entries(frontends)) {
    if (!isRecord(fe)) continue;
    const target = fe.default_backend;
    if (typeof target === 'string' && !(target in backends)) {
      error(['frontends', name, 'default_backend'], `backend "${target}" does not exist`, didYouMean(target, backendNames) ?? (backendNames.length ? `backends: ${backendNames.join(', ')}` : 'no backends are defined'));
    }
    const binds = Array.isArray(fe.bind) ? fe.bind : [fe.bind];
    binds.forEach((b, i) => {
      const address = typeof b === 'string' ? parseAddress(b) : undefined;
      if (!address || address.port === 0) return;
      const path: KeyPath = Array.isArray(fe.bind) ? ['frontends', name, 'bind', i] : ['frontends', name, 'bind'];
      for (const [key, other] of bound) {
        const [host, port] = splitKey(key);
        const overlaps = port === address.port && (host === address.host || host === '0.0.0.0' || address.host === '0.0.0.0' || host === '::' || address.host === '::');
        if (overlaps) error(path, `${formatAddress(address)} is already bound by ${other.frontend === name ? 'this frontend' : `frontend "${other.frontend}"`} (${formatPath(other.path)})`);
      }
      bound.set(formatAddress(address), { frontend: name, path });
    });
  }
  const modes = backendModes({ frontends: Object.fromEntries(Object.entries(frontends).filter(([, f]) => isRecord(f)).map(([n, f]) => [n, f as { mode?: 'http' | 'tcp'; default_backend?: string }])) });
  for (const [name, fe] of Object.entries(frontends)) {
    if (!isRecord(fe) || typeof fe.default_backend !== 'string') continue;
    const be = backends[fe.default_backend];
    const mode = (fe.mode as string | undefined) ?? 'http';
    if (isRecord(be) && typeof be.mode === 'string' && be.mode !== mode) {
      error(['frontends', name, 'default_backend'], `frontend is mode ${mode} but backend "${fe.default_backend}" is mode ${be.mode}`);
    } else if (modes.get(fe.default_backend) !== mode) {
      error(['frontends', name, 'default_backend'], `backend "${fe.default_backend}" is used by both http and tcp frontends; give each mode its own backend`);
    }
  }
}

function splitKey(key: string): [string, number] {
  const a = parseAddress(key)!;
  return [a.host, a.port];
}

async function probeServers(config: Config, at: (path: KeyPath) => Omit<Problem, 'severity' | 'message'>): Promise<Problem[]> {
  const checks = Object.entries(config.backends).flatMap(([name, be]) =>
    be.servers.map(async (s, i) => {
      const a = parseAddress(s.address)!;
      const reason = await tryConnect(a.host === '0.0.0.0' ? '127.0.0.1' : a.host, a.port, 1000);
      return reason ? ({ severity: 'warning', ...at(['backends', name, 'servers', i, 'address']), message: `server ${s.name} at ${s.address} is unreachable now (${reason})` } as Problem) : undefined;
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

/** The keys the schema allows at a path, for "did you mean". */
function knownKeys(path: KeyPath): string[] {
  let schema: any = GatewayConfig;
  for (const part of path) {
    schema = unwrap(schema);
    const def = schema?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') schema = def.shape[part];
    else if (def.type === 'record') schema = def.valueType;
    else if (def.type === 'array') schema = def.element;
    else return [];
  }
  const def = unwrap(schema)?._zod?.def;
  return def?.type === 'object' ? Object.keys(def.shape) : [];
}

function unwrap(schema: any): any {
  for (;;) {
    const def = schema?._zod?.def;
    if (!def) return schema;
    if (def.type === 'optional' || def.type === 'default' || def.type === 'nullable' || def.type === 'prefault') schema = def.innerType;
    else if (def.type === 'pipe') schema = def.in;
    else if (def.type === 'union') schema = def.options.find((o: any) => unwrap(o)?._zod?.def?.type === 'object') ?? def.options[0];
    else return schema;
  }
}
