// Routes as plugins see them, and the shape of a condition kind a plugin registers for
// `match:` (the kernel compiles each condition once per generation, core/routes.ts).
import type { z } from 'zod';
import type { HttpContext, TcpContext } from './context.ts';
import type { Mode } from './views.ts';

/** What a matcher tests: an HTTP request, or a TCP connection (with what inspection found). */
export type MatchContext = HttpContext | TcpContext;
export type MatchTest = (ctx: MatchContext) => boolean;

/** A kind of condition usable under `match:` in routes, e.g. `host`, `path`, `header`. */
export interface MatcherDefinition<Arg = unknown> {
  /** One line shown by `tapgate explain`. */
  description?: string;
  /** Checks the value written under the matcher's key; compile receives its output. */
  options?: z.ZodType<Arg>;
  /** Modes it applies to (both when absent); using it in a route of another mode is a check error. */
  modes?: readonly Mode[];
  /** TCP mode: it needs the client's first bytes (SNI, protocol...), so the frontend inspects them before routing. */
  inspect?: boolean;
  /** Builds the test once per generation: no parsing per request. */
  compile(arg: Arg, mode: Mode): MatchTest;
}

/** A compiled condition: `all`, `any`, `not`, or one matcher with its argument. */
export interface Condition {
  readonly kind: string;
  /** A matcher's value as written in the config, and as its options schema gave it to compile. */
  readonly written?: unknown;
  readonly arg?: unknown;
  readonly children?: readonly Condition[];
  readonly test: MatchTest;
}

/** Why a condition held or not: the same tree, each node with its result. */
export interface ConditionTrace {
  readonly kind: string;
  readonly written?: unknown;
  readonly held: boolean;
  readonly children?: readonly ConditionTrace[];
}

/** A route as plugins see it. */
export interface RouteView {
  /** As written, or `#<index>`; `default` for the frontend's fallback. */
  readonly name: string;
  readonly frontend: string;
  /** Position in the frontend's list; -1 for the fallback. */
  readonly index: number;
  /** The backend it sends to (the frontend's default when the route names none). */
  readonly backend: string | undefined;
  /** TCP mode: the frontend the connection is handed to instead of a backend. */
  readonly handoff: string | undefined;
  /** The compiled condition (routers may index on its parts, e.g. `host`); undefined matches everything. */
  readonly condition: Condition | undefined;
  /** The route's own plugins, in order. */
  readonly plugins: readonly string[];
}
