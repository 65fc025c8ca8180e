// One conformance suite for every balancing algorithm (as Hono does for its routers):
// each algorithm file's test calls `balancerConformance(name, algorithm)`.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { BalancerExtension, PickContext } from 'tapgate/sdk';
import { createBalancer, eligibleServers as eligibleOf, httpContext, pickFrom, seededRandom, tcpContext, TestServer } from 'tapgate/sdk/testing';

/** A server of backend `b` whose state a test sets: `new FakeServer(name, weight, backup)`. */
export class FakeServer extends TestServer {
  constructor(name: string, weight = 1, backup = false, backend = 'b') {
    super(name, { weight, backup, backend });
  }
}

/**
 * An HTTP request whose client address, path, `x-user` header and `session` cookie vary
 * with i; `over` replaces the address, the target (path and query) or all the headers.
 */
export function fakeContext(i: number, over: { address?: string; url?: string; headers?: Record<string, string> } = {}): PickContext {
  return httpContext({
    client: { address: over.address ?? `10.0.${(i >> 8) & 255}.${i & 255}`, port: 1000 + i },
    url: over.url ?? `/item/${i}`,
    headers: over.headers ?? { 'x-user': `user-${i}`, cookie: `session=s${i}; theme=dark` },
  });
}

/** A TCP session: a client address, no path, headers or cookies. */
export function fakeTcpContext(i: number): PickContext {
  return tcpContext({ client: { address: `10.1.${(i >> 8) & 255}.${i & 255}`, port: 1000 + i } });
}

export const seeded = seededRandom;

/** Picks as the kernel does: among the eligible servers only, nothing when none is. */
export const pickAs = pickFrom;

/** A balancer made as the kernel makes one (`balance_options` checked by the algorithm's schema); throws what `check` would report. */
export const makeBalancer = createBalancer;

/**
 * `exactWeights`: shares must be exact (round robin). `tolerance`: the allowed distance
 * from a server's expected share, as a fraction of it (hash-based algorithms); by default
 * 150 of 1000 picks and 200 of 3000. `argument` and `options`: as `balance: name(argument)`
 * and `balance_options` would give them. `skip`: cases the algorithm fails by design, each
 * with the reason (`first` fills one server before the next: no fairness, no weights).
 */
export function balancerConformance(
  name: string,
  algorithm: BalancerExtension,
  o: { exactWeights?: boolean; tolerance?: number; argument?: string; options?: Record<string, unknown>; skip?: { fairness?: string; weights?: string } } = {},
): void {
  const within = (found: number, expected: number, otherwise: number) =>
    Math.abs(found - expected) <= (o.exactWeights ? 0 : o.tolerance !== undefined ? expected * o.tolerance : otherwise);
  const make = (servers: FakeServer[]) => makeBalancer(algorithm, { servers, argument: o.argument, options: o.options });
  const count = (servers: FakeServer[], picks: number, mutate?: (i: number) => void) => {
    const b = make(servers);
    const seen = new Map<string, number>();
    for (let i = 0; i < picks; i++) {
      mutate?.(i);
      const s = pickAs(b, servers, fakeContext(i));
      if (s) seen.set(s.name, (seen.get(s.name) ?? 0) + 1);
      if (s) b.release?.(s, fakeContext(i));
    }
    return seen;
  };

  describe(`balancer conformance: ${name}`, () => {
    it('spreads picks over equal servers fairly', { skip: o.skip?.fairness }, () => {
      const seen = count([new FakeServer('a'), new FakeServer('b'), new FakeServer('c')], 3000);
      for (const n of ['a', 'b', 'c']) assert.ok(within(seen.get(n) ?? 0, 1000, 150), `${n}: ${seen.get(n)}`);
    });

    it('honours weights', { skip: o.skip?.weights }, () => {
      const seen = count([new FakeServer('a', 3), new FakeServer('b', 1)], 4000);
      const a = seen.get('a') ?? 0;
      assert.ok(within(a, 3000, 200), `a: ${a}`);
    });

    it('never picks a server of weight 0', () => {
      const seen = count([new FakeServer('a', 1), new FakeServer('z', 0)], 500);
      assert.equal(seen.get('z'), undefined);
    });

    it('skips a server that is down, in drain or in maintenance', () => {
      const servers = [new FakeServer('a'), new FakeServer('down'), new FakeServer('drain'), new FakeServer('maint')];
      servers[1]!.up = false;
      servers[2]!.state = 'drain';
      servers[3]!.state = 'maint';
      const seen = count(servers, 300);
      assert.deepEqual([...seen.keys()], ['a']);
    });

    it('uses backup servers only when every other server is unusable', () => {
      const servers = [new FakeServer('a'), new FakeServer('spare', 1, true)];
      assert.equal(count(servers, 200).get('spare'), undefined);
      servers[0]!.up = false;
      assert.equal(count(servers, 200).get('spare'), 200);
    });

    it('follows the eligible list, kept as one array until a server leaves or comes back', () => {
      // As the kernel does: the same array object between changes, onServerState on each.
      const servers = [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
      const b = make(servers);
      let eligible = eligibleOf(servers);
      let i = 0;
      const run = (picks: number) => {
        const seen = new Set<string>();
        for (const end = i + picks; i < end; i++) {
          const s = b.pick(fakeContext(i), eligible);
          assert.ok(s && eligible.includes(s as FakeServer), `picked ${s?.name}, not one of the eligible`);
          seen.add(s.name);
          b.release?.(s, fakeContext(i));
        }
        return seen;
      };
      const set = (up: boolean) => {
        servers[0]!.up = up;
        b.onServerState?.(servers[0]!);
        eligible = eligibleOf(servers);
      };
      run(300);
      set(false);
      assert.ok(!run(300).has('a'), 'a server that left still gets picks');
      set(true);
      assert.ok(run(300).has('a'), 'a server that came back gets no picks');
    });

    it('returns nothing when no server is usable', () => {
      const s = new FakeServer('a');
      s.up = false;
      assert.equal(pickAs(make([s]), [s], fakeContext(0)), undefined);
    });
  });
}
