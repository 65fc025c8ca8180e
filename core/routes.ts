// Routes: a frontend's content-switching table. The kernel owns their shape (a
// condition, a backend, a plugin chain) and compiles each condition once per generation
// from the matcher kinds plugins brought; which route a request takes is decided by
// the `route` hook's taps (the built-in `switch` plugin: first match, indexed by host).
import type { Mode } from '../sdk/views.ts';
import type { Condition, ConditionTrace, MatchContext, MatchTest, RouteView } from '../sdk/routes.ts';
import type { MatcherExtension } from '../sdk/index.ts';
import { didYouMean, validate, type IssueReport, type KeyPath } from './config/problems.ts';

/** The route a `route` tap chose: one of the frontend's routes, or the fallback (no answer, or a backend name). */
export function chosenRoute<R extends RouteView>(fe: { name: string; routes: readonly R[]; fallback: R }, chosen: RouteView | string | void | undefined): R {
  if (chosen === undefined || typeof chosen === 'string') return fe.fallback;
  const route = fe.routes[chosen.index];
  if (route !== chosen) throw new Error(`a route tap chose route "${chosen.name}", which is not one of frontend "${fe.name}"'s routes`);
  return route;
}

const combinators = new Set(['all', 'any', 'not']);

/**
 * Compiles a route's `match` (a mapping: every key must hold) against the registered
 * matchers, each value checked by its matcher's options schema. Problems are reported with their key path below `base`; undefined when any.
 */
export function compileCondition(
  match: Readonly<Record<string, unknown>>,
  mode: Mode,
  matchers: ReadonlyMap<string, MatcherExtension>,
  base: KeyPath,
  problem: (path: KeyPath, message: string, hint?: string, at?: 'key' | 'value') => void,
  uses: Set<MatcherExtension> = new Set(),
): Condition | undefined {
  let ok = true;
  const fail = (path: KeyPath, message: string, hint?: string, at?: 'key' | 'value') => {
    ok = false;
    problem(path, message, hint, at);
  };
  const mapping = (value: unknown, path: KeyPath): Condition | undefined => {
    if (!isRecord(value) || Object.keys(value).length === 0) {
      fail(path, 'expected a mapping of conditions, e.g. { host: example.com, path: /api }');
      return undefined;
    }
    const parts = Object.entries(value).map(([kind, v]) => one(kind, v, [...path, kind]));
    return parts.length === 1 ? parts[0] : all(parts as Condition[]);
  };
  const one = (kind: string, value: unknown, path: KeyPath): Condition | undefined => {
    if (kind === 'not') {
      const inner = mapping(value, path);
      return inner && { kind, children: [inner], test: negate(inner.test) };
    }
    if (kind === 'all' || kind === 'any') {
      if (!Array.isArray(value) || value.length === 0) {
        fail(path, `expected a list of conditions under "${kind}"`);
        return undefined;
      }
      const children = value.map((v, i) => mapping(v, [...path, i])) as Condition[];
      return kind === 'all' ? all(children) : any(children);
    }
    const def = matchers.get(kind);
    if (!def) {
      const known = [...matchers.keys(), ...combinators];
      fail(path, `unknown matcher "${kind}"`, didYouMean(kind, known) ?? `expected one of: ${known.join(', ')}`, 'key');
      return undefined;
    }
    if (def.modes && !def.modes.includes(mode)) {
      fail(path, `matcher "${kind}" works in ${def.modes.join(' and ')} mode, not in ${mode === 'http' ? 'an' : 'a'} ${mode} frontend`, undefined, 'key');
      return undefined;
    }
    const checked = validate(def.options, value);
    if (!checked.success) {
      checked.reports.forEach((r: IssueReport) => fail([...path, ...r.path], `matcher "${kind}": ${r.message}`, r.hint, r.at));
      return undefined;
    }
    const arg = checked.data;
    try {
      uses.add(def);
      return { kind, written: value, arg, test: def.create(arg, { mode }) };
    } catch (err) {
      fail(path, `matcher "${kind}": ${(err as Error).message}`);
      return undefined;
    }
  };
  const condition = mapping(match, base);
  return ok ? condition : undefined;
}

function all(children: Condition[]): Condition {
  const tests = children.map((c) => c.test);
  const [a, b] = tests;
  const test: MatchTest = tests.length === 1 ? a! : tests.length === 2 ? (ctx) => a!(ctx) && b!(ctx) : (ctx) => tests.every((t) => t(ctx));
  return { kind: 'all', children, test };
}

function any(children: Condition[]): Condition {
  const tests = children.map((c) => c.test);
  return { kind: 'any', children, test: (ctx) => tests.some((t) => t(ctx)) };
}

const negate =
  (t: MatchTest): MatchTest =>
  (ctx) =>
    !t(ctx);

/** Evaluates every node (no short cut), so an explanation shows each part's result. */
export function traceCondition(c: Condition, ctx: MatchContext): ConditionTrace {
  if (!c.children) return { kind: c.kind, written: c.written, held: c.test(ctx) };
  const children = c.children.map((x) => traceCondition(x, ctx));
  const held = c.kind === 'all' ? children.every((x) => x.held) : c.kind === 'any' ? children.some((x) => x.held) : !children[0]!.held;
  return { kind: c.kind, held, children };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
