// Claim rules, shared by the jwt plugin's `claims:` (a failing rule is a 403) and the
// `claim` route matcher (a failing rule means the route does not match). A rule is
// checked by a schema and compiled once into a test of a claims object.
import { defineMatcher, RegexSource, z } from '../../sdk/index.ts';

export type Claims = Readonly<Record<string, unknown>>;
export type ClaimTest = (claims: Claims) => boolean;

const Scalar = z.union([z.string(), z.number(), z.boolean()]);

/**
 * What a claim must be: a value (equal, or an array claim holding it), a list (one of
 * them), or `{ equals }`, `{ one_of }`, `{ contains }` (an array claim, or a space-separated
 * string such as OAuth's `scope`, holding every value given), `{ regex }`, `{ present }`.
 */
export const ClaimRule = z.union([
  Scalar,
  z.array(Scalar).min(1),
  z.strictObject({ equals: Scalar }),
  z.strictObject({ one_of: z.array(Scalar).min(1) }),
  z.strictObject({ contains: z.union([Scalar, z.array(Scalar).min(1)]) }),
  z.strictObject({ regex: RegexSource }),
  z.strictObject({ present: z.boolean() }),
]);
export type ClaimRule = z.output<typeof ClaimRule>;

/** Claim names to rules: every rule must hold. */
export const ClaimRules = z
  .record(z.string().min(1), ClaimRule)
  .refine((v) => Object.keys(v).length > 0, 'expected at least one claim, e.g. { role: admin } or { scope: { contains: read } }');

/** A claim by name: as written (`https://example.com/roles` is one name), else a dotted path into objects (`realm_access.roles`). */
export function readClaim(claims: Claims, name: string): unknown {
  if (Object.hasOwn(claims, name)) return claims[name];
  if (!name.includes('.')) return undefined;
  let at: unknown = claims;
  for (const part of name.split('.')) {
    if (typeof at !== 'object' || at === null || Array.isArray(at) || !Object.hasOwn(at, part)) return undefined;
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/** The values a claim holds: an array's items, a string's space-separated words (`scope`), or the value itself. */
const itemsOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : typeof v === 'string' ? v.split(' ').filter(Boolean) : [v]);
const isOneOf = (set: ReadonlySet<unknown>) => (v: unknown) => set.has(v) || (Array.isArray(v) && v.some((x) => set.has(x)));

export function compileRule(rule: ClaimRule): (value: unknown) => boolean {
  if (typeof rule !== 'object') return isOneOf(new Set([rule]));
  if (Array.isArray(rule)) return isOneOf(new Set(rule));
  if ('equals' in rule) return (v) => v === rule.equals;
  if ('one_of' in rule) {
    const set = new Set(rule.one_of);
    return (v) => set.has(v as string);
  }
  if ('contains' in rule) {
    const wanted = [rule.contains].flat();
    return (v) => {
      if (v === undefined || v === null) return false;
      const items = itemsOf(v);
      return wanted.every((w) => items.includes(w));
    };
  }
  if ('regex' in rule) {
    const re = new RegExp(rule.regex);
    return (v) => typeof v === 'string' && re.test(v);
  }
  const present = rule.present;
  return (v) => (v !== undefined && v !== null) === present;
}

/** Every rule, compiled; `failing` names the first claim that does not hold (for a 403's description). */
export function compileRules(rules: Record<string, ClaimRule>): { test: ClaimTest; failing(claims: Claims): string | undefined } {
  const tests = Object.entries(rules).map(([name, rule]) => ({ name, test: compileRule(rule) }));
  const failing = (claims: Claims) => tests.find((t) => !t.test(readClaim(claims, t.name)))?.name;
  return { test: (claims) => failing(claims) === undefined, failing };
}

/** Where the jwt plugin leaves a verified token's claims. */
export const claimsOf = (state: Record<string, unknown>): Claims | undefined => state.claims as Claims | undefined;

/** `match: { claim: { role: admin } }`: the claims a jwt plugin verified before routing (a jwt plugin on the frontend). */
export const claimMatcher = defineMatcher({
  name: 'claim',
  description: "a claim of the request's verified JWT (the jwt plugin on the frontend verifies before routing)",
  options: ClaimRules,
  modes: ['http'],
  create: (rules) => {
    const { test } = compileRules(rules);
    return (ctx) => {
      if (ctx.kind !== 'http') return false;
      const claims = claimsOf(ctx.state);
      return claims !== undefined && test(claims);
    };
  },
});
