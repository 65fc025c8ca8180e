// The router's host index never changes which route wins: on random tables and
// requests, it agrees with trying every route in order.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { HttpContext, RouteView } from 'tapgate/sdk';
import { compileMatch, httpContext } from 'tapgate/sdk/testing';
import { Router } from '../../../plugins/switch/router.ts';
import { builtinMatchers } from '../../../plugins/switch/matchers.ts';

export function route(index: number, match: Record<string, unknown> | undefined): RouteView {
  const condition = match ? compileMatch(match, builtinMatchers) : undefined;
  return { name: `r${index}`, frontend: 'web', index, backend: undefined, handoff: undefined, condition, plugins: [] };
}

export function request(host: string, path: string, headers: Record<string, string> = {}): HttpContext {
  return httpContext({ url: path, headers: { host, ...headers }, client: { address: '127.0.0.1', port: 1 } });
}

/** A seeded PRNG, so a failure reproduces. */
function prng(seed: number): () => number {
  return () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
}

describe('router', () => {
  it('agrees with a linear first match on 2,000 random requests over random tables', () => {
    const random = prng(7);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
    const hosts = ['a.test', 'b.test', 'x.a.test', 'y.x.a.test', 'c.test', 'other.test'];
    const patterns = ['a.test', 'b.test', '*.a.test', '*.x.a.test', 'c.test'];
    const paths = ['/', '/api', '/api/v1', '/static/x', '/z'];
    for (let table = 0; table < 20; table++) {
      const routes: RouteView[] = [];
      for (let i = 0; i < 30; i++) {
        const kind = Math.floor(random() * 5);
        const match =
          kind === 0
            ? { host: pick(patterns) }
            : kind === 1
              ? { host: [pick(patterns), pick(patterns)], path: pick(paths) }
              : kind === 2
                ? { path: pick(paths) }
                : kind === 3
                  ? { any: [{ host: pick(patterns) }, { header: { 'x-k': '1' } }] }
                  : { all: [{ path: pick(paths) }, { host: pick(patterns) }] };
        routes.push(route(i, match));
      }
      if (random() < 0.5) routes.push(route(routes.length, undefined));
      const router = new Router(routes);
      for (let n = 0; n < 100; n++) {
        const ctx = request(pick(hosts), pick(paths) + (random() < 0.5 ? '/more' : ''), random() < 0.2 ? { 'x-k': '1' } : {});
        const linear = routes.find((r) => !r.condition || r.condition.test(ctx));
        assert.equal(router.select(ctx)?.name, linear?.name, `table ${table}, host ${(ctx as HttpContext).host}, path ${(ctx as HttpContext).path}`);
      }
    }
  });
});
