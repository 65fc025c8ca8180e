// The built-in matcher kinds for routes' `match:`. Each checks its config value with a
// schema and compiles it once into a test: sets for exact names, suffix lists for
// wildcards, a BlockList for addresses, regexes compiled here and never per request.
import { addressMatcher, Cidr, defineMatcher, RegexSource, z, type MatcherExtension, type MatchContext, type MatchTest } from '../../sdk/index.ts';

const oneOrMore = <T extends z.ZodType>(t: T) => z.union([t.transform((v) => [v]), z.array(t).min(1)]) as unknown as z.ZodType<z.output<T>[]>;

/** `example.com` (exact) or `*.example.com` (any name below it), matched without case. */
const HostPattern = z
  .string()
  .regex(/^(\*\.)?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$/, 'expected a host name such as example.com, or *.example.com')
  .transform((v) => v.toLowerCase().replace(/\.$/, ''));

export interface HostPatterns {
  readonly exact: ReadonlySet<string>;
  /** Suffixes with their dot: `.example.com` for `*.example.com`. */
  readonly suffixes: readonly string[];
}

export const HostList = oneOrMore(HostPattern).transform((list): HostPatterns => ({
  exact: new Set(list.filter((p) => !p.startsWith('*.'))),
  suffixes: list.filter((p) => p.startsWith('*.')).map((p) => p.slice(1)),
}));

export function hostTest(patterns: HostPatterns): (host: string | undefined) => boolean {
  const { exact, suffixes } = patterns;
  return (host) => host !== undefined && host !== '' && (exact.has(host) || suffixes.some((s) => host.endsWith(s)));
}

/** The host a request names: its Host header (http), or what inspection read (tcp: the HTTP Host). */
export const hostOf = (ctx: MatchContext): string | undefined => (ctx.kind === 'http' ? ctx.host : ctx.detected?.host);

const PathRule = z.union([
  z
    .string()
    .startsWith('/', 'expected a path starting with "/" (a prefix)')
    .transform((prefix) => ({ prefix })),
  z.strictObject({ prefix: z.string().startsWith('/', 'expected a path starting with "/"') }),
  z.strictObject({ exact: z.string().startsWith('/', 'expected a path starting with "/"') }),
  z.strictObject({ regex: RegexSource }),
]);

function pathTest(rules: z.output<typeof PathRule>[]): MatchTest {
  const exact = new Set<string>();
  const prefixes: string[] = [];
  const regexes: string[] = [];
  for (const r of rules) {
    if ('exact' in r) exact.add(r.exact);
    else if ('prefix' in r) prefixes.push(r.prefix);
    else regexes.push(`(?:${r.regex})`);
  }
  // Several regexes are one alternation, compiled once.
  const regex = regexes.length ? new RegExp(regexes.join('|')) : undefined;
  return (ctx) => {
    if (ctx.kind !== 'http') return false;
    const path = ctx.path;
    if (exact.has(path)) return true;
    for (const p of prefixes) if (path.startsWith(p)) return true;
    return regex !== undefined && regex.test(path);
  };
}

/** A header, query parameter or cookie: a value (or one of several), { regex }, true (present) or false (absent). */
const ValueRule = z.union([z.boolean(), z.string(), z.array(z.string()).min(1), z.strictObject({ regex: RegexSource })]);
const NamedRules = z.record(z.string().min(1), ValueRule).refine((v) => Object.keys(v).length > 0, 'expected at least one name, e.g. { x-env: canary }');

function valueTest(rule: z.output<typeof ValueRule>): (v: string | undefined) => boolean {
  if (rule === true) return (v) => v !== undefined;
  if (rule === false) return (v) => v === undefined;
  if (typeof rule === 'string') return (v) => v === rule;
  if (Array.isArray(rule)) {
    const set = new Set(rule);
    return (v) => v !== undefined && set.has(v);
  }
  const re = new RegExp(rule.regex);
  return (v) => v !== undefined && re.test(v);
}

function namedTest(
  rules: Record<string, z.output<typeof ValueRule>>,
  read: (ctx: MatchContext, name: string) => string | undefined,
  lower: boolean,
): MatchTest {
  const tests = Object.entries(rules).map(([name, rule]) => ({ name: lower ? name.toLowerCase() : name, test: valueTest(rule) }));
  return (ctx) => tests.every((t) => t.test(read(ctx, t.name)));
}

const readHeader = (ctx: MatchContext, name: string) => {
  if (ctx.kind !== 'http') return undefined;
  const v = ctx.headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
};
const readQuery = (ctx: MatchContext, name: string) => (ctx.kind === 'http' ? (ctx.query.get(name) ?? undefined) : undefined);
const readCookie = (ctx: MatchContext, name: string) => (ctx.kind === 'http' ? ctx.cookies[name] : undefined);

const PortRange = z.union([
  z
    .number()
    .int()
    .min(1)
    .max(65535)
    .transform((p) => [p, p] as const),
  z
    .string()
    .regex(/^\d+\s*-\s*\d+$/, 'expected a port or a range such as 8000-8099')
    .transform((v) => v.split('-').map((x) => Number(x.trim())) as [number, number])
    .refine(([lo, hi]) => lo >= 1 && hi <= 65535 && lo <= hi, 'expected a range of ports from 1 to 65535, low-high'),
]);

const Names = oneOrMore(z.string().min(1));

/** Every built-in matcher, brought by the `switch` plugin. */
export const builtinMatchers: readonly MatcherExtension[] = [
  defineMatcher({
    name: 'host',
    description: 'the Host header (tcp: of an inspected HTTP request), exact or *.wildcard',
    options: HostList,
    inspect: true,
    create: (patterns) => {
      const test = hostTest(patterns);
      return (ctx) => test(hostOf(ctx));
    },
  }),
  defineMatcher({
    name: 'path',
    description: 'the path: a prefix, { exact }, { prefix } or { regex }',
    options: oneOrMore(PathRule),
    modes: ['http'],
    create: pathTest,
  }),
  defineMatcher({
    name: 'method',
    description: 'the request method (tcp: of an inspected HTTP request)',
    options: oneOrMore(z.string().regex(/^[A-Z]+$/, 'expected a method in capitals, e.g. GET')),
    inspect: true,
    create: (methods) => {
      const set = new Set(methods);
      return (ctx) => set.has((ctx.kind === 'http' ? ctx.method : ctx.detected?.method) ?? '');
    },
  }),
  defineMatcher({
    name: 'query',
    description: 'query parameters by name',
    options: NamedRules,
    modes: ['http'],
    create: (rules) => namedTest(rules, readQuery, false),
  }),
  defineMatcher({
    name: 'header',
    description: 'request headers by name',
    options: NamedRules,
    modes: ['http'],
    create: (rules) => namedTest(rules, readHeader, true),
  }),
  defineMatcher({
    name: 'cookie',
    description: 'cookies by name',
    options: NamedRules,
    modes: ['http'],
    create: (rules) => namedTest(rules, readCookie, false),
  }),
  defineMatcher({
    name: 'src',
    description: 'the client address, in CIDR blocks',
    options: oneOrMore(Cidr),
    create: (blocks) => {
      const test = addressMatcher(blocks);
      return (ctx) => test(ctx.client.address);
    },
  }),
  defineMatcher({
    name: 'dst_port',
    description: 'the local port the client connected to',
    options: oneOrMore(PortRange),
    create: (ranges) => (ctx) => ranges.some(([lo, hi]) => ctx.local.port >= lo && ctx.local.port <= hi),
  }),
  defineMatcher({
    name: 'sni',
    description: 'the TLS server name (tcp: read from the ClientHello, passed through)',
    options: HostList,
    inspect: true,
    create: (patterns) => {
      const test = hostTest(patterns);
      return (ctx) => test(ctx.tls?.sni?.toLowerCase());
    },
  }),
  defineMatcher({
    name: 'alpn',
    description: 'the TLS application protocol: negotiated (http), or offered by the client (tcp)',
    options: Names,
    inspect: true,
    create: (names, { mode }) => {
      const set = new Set(names);
      if (mode === 'http') return (ctx) => set.has(ctx.tls?.alpn ?? '');
      return (ctx) => ctx.kind === 'tcp' && (ctx.detected?.alpn ?? []).some((p) => set.has(p));
    },
  }),
  defineMatcher({
    name: 'protocol',
    description: 'what inspection recognised: tls, http, ssh, or a plugin detector',
    options: Names,
    modes: ['tcp'],
    inspect: true,
    create: (names) => {
      const set = new Set(names);
      return (ctx) => ctx.kind === 'tcp' && set.has(ctx.detected?.protocol ?? '');
    },
  }),
];
