// Extensions: what a plugin adds to the gateway besides taps. Balancing algorithms, route
// matchers and protocol detectors, and any kind to come, share one shape, as Caddy's
// modules all answer CaddyModule(): a name, a zod schema for what a configuration writes
// for it, and `create`, which builds it from what the schema gave. The kernel checks the
// written value against the schema before `create` runs, so `tapgate check` reports a
// mistake with its file, line and key path, and `tapgate schema` describes it.
import { z } from 'zod';
import type { Balancer, BalancerInit, Detector, MatchTest, Mode } from './index.ts';

export type ExtensionKind = 'balancer' | 'matcher' | 'detector';

/** One extension: `create` runs once per use in a generation (a backend, a condition), never per request. */
export interface Extension<Options, Product, Context = undefined> {
  readonly kind: ExtensionKind;
  /** What a configuration calls it: `balance: name`, `match: { name: ... }`, `protocol: name`. */
  readonly name: string;
  /** One line on what it does; the JSON Schema shows it to editors. */
  readonly description?: string;
  /** Checks and fills in what the configuration writes for it; `create` receives its output. */
  readonly options: z.ZodType<Options>;
  create(options: Options, context: Context): Product;
}

/**
 * A balancing algorithm (`balance: name`); its options are the backend's
 * `balance_options`. Without an options schema it takes none.
 */
export interface BalancerExtension<Options = any> extends Extension<Options, Balancer, BalancerInit> {
  readonly kind: 'balancer';
  /**
   * The argument in `balance: name(argument)`, e.g. the header of `hdr(x-user)`. Without
   * it the algorithm takes none; its description says what is expected when one is missing.
   */
  readonly argument?: z.ZodType<string>;
}

/** What a matcher's `create` is told besides its value. */
export interface MatcherInit {
  /** The mode of the frontend whose route uses it. */
  readonly mode: Mode;
}

/** A condition kind under `match:` in routes (`host`, `path`, a plugin's `claim`); its options are the value written under its key. */
export interface MatcherExtension<Arg = any> extends Extension<Arg, MatchTest, MatcherInit> {
  readonly kind: 'matcher';
  /** Modes it applies to (both when absent); using it in a route of another mode is a check error. */
  readonly modes?: readonly Mode[];
  /** TCP mode: it needs the client's first bytes (SNI, protocol...), so the frontend inspects them before routing. */
  readonly inspect?: boolean;
}

/**
 * A protocol detector for TCP inspection (`match: { protocol: name }`). A configuration
 * has no place to write a detector's options: it takes none, and `create` runs once per
 * generation.
 */
export interface DetectorExtension extends Extension<Record<string, never>, Detector> {
  readonly kind: 'detector';
}

export type AnyExtension = BalancerExtension | MatcherExtension | DetectorExtension;

const none = z.strictObject({});

/** Declare a balancing algorithm, for a plugin's `extensions`. */
export function defineBalancer<Options = Record<string, never>>(
  definition: Omit<BalancerExtension<Options>, 'kind' | 'options'> & { options?: z.ZodType<Options> },
): BalancerExtension<Options> {
  return { kind: 'balancer', options: none as unknown as z.ZodType<Options>, ...definition };
}

/** Declare a route matcher, for a plugin's `extensions`. */
export function defineMatcher<Arg>(definition: Omit<MatcherExtension<Arg>, 'kind'>): MatcherExtension<Arg> {
  return { kind: 'matcher', ...definition };
}

/** Declare a protocol detector, for a plugin's `extensions`. */
export function defineDetector(definition: Omit<DetectorExtension, 'kind' | 'options' | 'create'> & { create(): Detector }): DetectorExtension {
  return { kind: 'detector', options: none as unknown as z.ZodType<Record<string, never>>, ...definition };
}
