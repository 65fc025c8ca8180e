// A problem found in a configuration: where, what was found, what was expected.
// `tapgate check` prints them all; `--format json` prints the same objects. Zod's issues
// become problems here too, in the words of someone editing a config: the gateway's
// schema, every plugin's options schema and every extension's are checked through
// `validate`, so their problems read the same.
import type { z } from 'zod';

export type KeyPath = readonly (string | number)[];

export interface Problem {
  severity: 'error' | 'warning';
  file: string;
  line?: number;
  column?: number;
  /** Key path such as `backends.app.servers[1].address`; empty for the whole file. */
  path: string;
  message: string;
  /** A fix when one is obvious ("did you mean ..."). */
  hint?: string;
}

export function formatPath(path: KeyPath): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (/^[A-Za-z_][A-Za-z0-9_-]*$/.test(part)) out += out ? `.${part}` : part;
    else out += `[${JSON.stringify(part)}]`;
  }
  return out;
}

export function formatProblem(p: Problem): string {
  const where = p.line ? `${p.file}:${p.line}:${p.column ?? 1}` : p.file;
  const key = p.path ? ` ${p.path}:` : '';
  const hint = p.hint ? ` (${p.hint})` : '';
  return `${where}: ${p.severity}:${key} ${p.message}${hint}`;
}

/** Short, readable rendering of a found value. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (Array.isArray(v)) return v.length ? 'a list' : 'an empty list';
  if (typeof v === 'object') return Object.keys(v).length ? 'a mapping' : 'an empty mapping';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

export function didYouMean(word: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) {
      bestDistance = d;
      best = c;
    }
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? `did you mean "${best}"?` : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0]!;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j]!;
      row[j] = Math.min(row[j]! + 1, row[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length]!;
}

/** Thrown when a configuration cannot be used; carries every problem found. */
export class ConfigError extends Error {
  constructor(readonly problems: Problem[]) {
    super(
      problems
        .filter((p) => p.severity === 'error')
        .map(formatProblem)
        .join('\n'),
    );
    this.name = 'ConfigError';
  }
}

export interface IssueReport {
  path: KeyPath;
  /** Point at the key (unknown, missing, badly named) or at its value. */
  at: 'key' | 'value';
  message: string;
  hint?: string;
}

export type Validation<T> = { success: true; data: T } | { success: false; reports: IssueReport[] };

/** Checks `input` against `schema`: the parsed data, or every issue as a report. */
export function validate<T>(schema: z.ZodType<T>, input: unknown): Validation<T> {
  const parsed = schema.safeParse(input, { reportInput: true, error: expectation });
  if (parsed.success) return { success: true, data: parsed.data };
  return { success: false, reports: parsed.error.issues.flatMap((issue) => report(schema, issue)) };
}

function report(schema: z.ZodType, issue: z.core.$ZodIssue): IssueReport[] {
  const path = issue.path as (string | number)[];
  if (issue.code === 'unrecognized_keys') {
    const known = knownKeys(schema, path);
    return issue.keys.map((key) => ({
      path: [...path, key],
      at: 'key',
      message: `unknown key "${key}"`,
      hint: didYouMean(key, known) ?? (known.length ? `expected one of: ${known.join(', ')}` : undefined),
    }));
  }
  if (issue.input === undefined) {
    const last = path.at(-1);
    const noun =
      issue.code === 'invalid_type' && issue.expected === 'object' ? 'section' : issue.code === 'invalid_type' && issue.expected === 'array' ? 'list' : 'key';
    return [{ path, at: 'key', message: `missing required ${noun}${typeof last === 'string' ? ` "${last}"` : ''}` }];
  }
  const hint =
    issue.code === 'invalid_value' && typeof issue.input === 'string'
      ? didYouMean(
          issue.input,
          issue.values.filter((v): v is string => typeof v === 'string'),
        )
      : undefined;
  return [
    { path, at: issue.code === 'invalid_key' ? 'key' : 'value', message: `${issue.message}, found ${describeValue(issue.input)}`, ...(hint ? { hint } : {}) },
  ];
}

/**
 * Replaces zod's default messages ("Invalid input: expected number, received string")
 * with what was expected; "found ..." is added by `report`. A message a schema sets
 * itself takes precedence over this map, so those are kept as written.
 */
const expectation: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${typeNames[issue.expected] ?? issue.expected}`;
    case 'invalid_value':
      return issue.values.length === 1 ? `expected ${show(issue.values[0])}` : `expected one of ${issue.values.map(show).join(', ')}`;
    case 'too_small':
      return `expected ${bound(issue.origin, issue.minimum, issue.inclusive !== false, 'min')}`;
    case 'too_big':
      return `expected ${bound(issue.origin, issue.maximum, issue.inclusive !== false, 'max')}`;
    case 'not_multiple_of':
      return `expected a multiple of ${issue.divisor}`;
    case 'invalid_format':
      return issue.format === 'regex' ? `expected text matching ${issue.pattern}` : `expected a valid ${issue.format}`;
    case 'invalid_key':
      return issue.issues[0] ? `invalid key: ${issue.issues[0].message}` : undefined;
    case 'invalid_union': {
      // "expected "auto" or a whole number", when every alternative failed on the value itself.
      const alternatives = issue.errors.map((branch) =>
        branch[0]?.path.length === 0 && /^expected /.test(branch[0].message) ? branch[0].message.slice(9) : undefined,
      );
      return alternatives.length && alternatives.every(Boolean) ? `expected ${[...new Set(alternatives)].join(' or ')}` : undefined;
    }
    default:
      return undefined;
  }
};

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  bigint: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  record: 'a mapping',
  map: 'a mapping',
  array: 'a list',
  tuple: 'a list',
  set: 'a list',
  null: 'null',
};

function show(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

function bound(origin: string, limit: number | bigint, inclusive: boolean, side: 'min' | 'max'): string {
  const n = Number(limit);
  const plural = (word: string) => `${word}${n === 1 ? '' : 's'}`;
  const words = side === 'min' ? (inclusive ? 'at least' : 'more than') : inclusive ? 'at most' : 'fewer than';
  if (origin === 'array' || origin === 'set') return `${words} ${n} ${plural('item')}`;
  if (origin === 'string') return side === 'min' && inclusive && n === 1 ? 'a non-empty string' : `${words} ${n} ${plural('character')}`;
  const op = side === 'min' ? (inclusive ? '>=' : '>') : inclusive ? '<=' : '<';
  return `${origin === 'int' ? 'a whole number' : 'a number'} ${op} ${n}`;
}

/** The keys an object schema allows at a path, for "did you mean". */
export function knownKeys(schema: z.ZodType, path: KeyPath): string[] {
  let s: any = schema;
  for (const part of path) {
    s = unwrap(s);
    const def = s?._zod?.def;
    if (!def) return [];
    if (def.type === 'object') s = def.shape[part];
    else if (def.type === 'record') s = def.valueType;
    else if (def.type === 'array') s = def.element;
    else return [];
  }
  const def = unwrap(s)?._zod?.def;
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
