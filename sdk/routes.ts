// Routes as plugins see them, and what a condition is made of: the kernel compiles each
// condition once per generation from the matchers plugins bring (sdk/extensions.ts).
import type { HttpContext, TcpContext } from './context.ts';

/** What a matcher tests: an HTTP request, or a TCP connection (with what inspection found). */
export type MatchContext = HttpContext | TcpContext;
export type MatchTest = (ctx: MatchContext) => boolean;

/** A compiled condition: `all`, `any`, `not`, or one matcher with its argument. */
export interface Condition {
  readonly kind: string;
  /** A matcher's value as written in the config, and as its options schema gave it to `create`. */
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
