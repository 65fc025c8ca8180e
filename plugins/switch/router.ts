// First match, in config order, without trying every route: routes that require a
// host are indexed by it (a map for exact names, one for wildcard suffixes), so a
// request only tries the routes for its host and those that name no host. The order of
// those candidates is the config's, so indexing never changes which route wins.
import type { Condition, MatchContext, RouteView } from '../../sdk/index.ts';
import { hostOf, type HostPatterns } from './matchers.ts';

export class Router {
  /** Candidate route indexes for an exact host: its own routes and the host-less ones, merged in order. */
  readonly #byHost = new Map<string, readonly number[]>();
  /** Routes for `*.suffix` names, by `.suffix`. */
  readonly #bySuffix = new Map<string, readonly number[]>();
  /** Routes that name no host: tried for every request. */
  readonly #anyHost: readonly number[];

  constructor(readonly routes: readonly RouteView[]) {
    const anyHost: number[] = [];
    const exact = new Map<string, number[]>();
    const suffix = new Map<string, number[]>();
    routes.forEach((route, i) => {
      const hosts = requiredHosts(route.condition);
      if (!hosts) return void anyHost.push(i);
      for (const h of hosts.exact) (exact.get(h) ?? exact.set(h, []).get(h)!).push(i);
      for (const s of hosts.suffixes) (suffix.get(s) ?? suffix.set(s, []).get(s)!).push(i);
    });
    this.#anyHost = anyHost;
    for (const [host, list] of exact) this.#byHost.set(host, mergeSorted(list, anyHost));
    for (const [s, list] of suffix) this.#bySuffix.set(s, list);
  }

  /** The first route whose condition holds, or undefined. */
  select(ctx: MatchContext): RouteView | undefined {
    const routes = this.routes;
    const host = this.#byHost.size || this.#bySuffix.size ? hostOf(ctx) : undefined;
    let candidates = (host && this.#byHost.get(host)) || this.#anyHost;
    if (host && this.#bySuffix.size) {
      // Each parent domain of the host: a.b.example.com tries .b.example.com, .example.com, .com.
      for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
        const wild = this.#bySuffix.get(host.slice(dot));
        if (wild) candidates = mergeSorted(candidates, wild);
      }
    }
    for (let k = 0; k < candidates.length; k++) {
      const route = routes[candidates[k]!]!;
      if (!route.condition || route.condition.test(ctx)) return route;
    }
    return undefined;
  }
}

/**
 * The host names a route's condition requires, when it requires one: a `host` at the top,
 * or inside a top-level `all`. Anything else (any, not, no host) is tried for every host.
 */
function requiredHosts(c: Condition | undefined): HostPatterns | undefined {
  if (!c) return undefined;
  if (c.kind === 'host') return c.arg as HostPatterns;
  if (c.kind === 'all') for (const child of c.children ?? []) if (child.kind === 'host') return child.arg as HostPatterns;
  return undefined;
}

function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i]! < b[j]!)) out.push(a[i++]!);
    else if (i >= a.length || b[j]! < a[i]!) out.push(b[j++]!);
    else {
      out.push(a[i++]!);
      j++;
    }
  }
  return out;
}
