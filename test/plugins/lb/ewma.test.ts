import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { PickContext } from 'tapgate/sdk';
import { peakEwma } from '../../../plugins/lb/ewma.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer, pickAs, seeded } from './common.case.ts';

balancerConformance('ewma', peakEwma, {
  skip: {
    weights:
      'ewma takes the cheaper of two servers per unit of weight: with nothing in flight and nothing measured, the heavier is always cheaper; ' +
      'weights show under concurrent load (tested below)',
  },
});

/** An HTTP request that got its response head after `ms`. */
const answered = (ms: number) => ({ timings: { start: 0, ttfb: ms, total: ms + 1 } }) as unknown as PickContext;
/** A TCP session whose connection took `ms`. */
const connected = (ms: number) => ({ connectTime: ms }) as unknown as PickContext;

describe('ewma (peak-EWMA)', () => {
  const setup = (servers: FakeServer[], options: Record<string, unknown> = {}) => {
    const clock = { t: 1_000_000 };
    const b = makeBalancer(peakEwma, { servers, options, random: seeded(3), now: () => clock.t });
    return { b, clock };
  };

  it('moves traffic away from a slow server, and back once it recovers', () => {
    const servers = ['a', 'b', 'c'].map((n) => new FakeServer(n));
    const { b, clock } = setup(servers);
    let slow = true;
    // 100 requests a second, one at a time, for `seconds`; b answers in 500 ms while slow, every server else in 10 ms.
    const run = (seconds: number) => {
      const seen = new Map<string, number>();
      for (let i = 0; i < seconds * 100; i++) {
        clock.t += 10;
        const s = pickAs(b, servers, fakeContext(i))!;
        seen.set(s.name, (seen.get(s.name) ?? 0) + 1);
        b.release!(s, answered(s.name === 'b' && slow ? 500 : 10));
      }
      return seen;
    };
    run(5);
    const whileSlow = run(60).get('b') ?? 0;
    assert.ok(whileSlow <= 10, `the slow server got ${whileSlow} of 6000`);
    slow = false;
    run(60);
    const recovered = run(30).get('b') ?? 0;
    assert.ok(recovered >= 700, `the recovered server got ${recovered} of 3000`);
  });

  it('replaces the estimate with a sample above it at once (peak)', () => {
    const servers = [new FakeServer('a'), new FakeServer('b')];
    const { b } = setup(servers);
    for (const s of servers) b.release!(s, answered(10));
    b.release!(servers[0]!, answered(200));
    for (let i = 0; i < 20; i++) assert.equal(pickAs(b, servers, fakeContext(i))?.name, 'b');
  });

  it('counts requests in flight: cost is latency × (in flight + 1)', () => {
    const servers = [new FakeServer('fast'), new FakeServer('slow')];
    const { b } = setup(servers, { default_latency: 1 });
    b.release!(servers[0]!, answered(10));
    b.release!(servers[1]!, answered(35));
    servers[0]!.active = 3; // 10 × 4 = 40 > 35 × 1
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'slow');
    servers[0]!.active = 2; // 10 × 3 = 30 < 35
    assert.equal(pickAs(b, servers, fakeContext(1))?.name, 'fast');
  });

  it('starts a server it has not measured at default_latency', () => {
    const servers = [new FakeServer('measured'), new FakeServer('new')];
    const low = setup(servers, { default_latency: '30ms' });
    low.b.release!(servers[0]!, answered(100));
    assert.equal(pickAs(low.b, servers, fakeContext(0))?.name, 'new');
    const high = setup(servers, { default_latency: '1s' });
    high.b.release!(servers[0]!, answered(100));
    assert.equal(pickAs(high.b, servers, fakeContext(0))?.name, 'measured');
  });

  it('lets a slow estimate decay with the time constant, so the server is tried again', () => {
    const servers = [new FakeServer('a'), new FakeServer('b')];
    const { b, clock } = setup(servers, { decay: '1s' });
    b.release!(servers[0]!, answered(1000));
    b.release!(servers[1]!, answered(100));
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'b');
    // b is kept busy at 100 ms (a sample every 10 ms keeps it near 100); a's 1000 ms falls by e every second.
    const tries = (seconds: number) => {
      let a = 0;
      for (let i = 0; i < seconds * 100; i++) {
        clock.t += 10;
        const s = pickAs(b, servers, fakeContext(i))!;
        if (s.name === 'a') a++;
        b.release!(s, answered(s.name === 'a' ? 1000 : 100));
      }
      return a;
    };
    assert.equal(tries(2), 0, 'tried again before 1000 ms had decayed below 100');
    assert.ok(tries(3) >= 1, 'never tried again');
  });

  it('uses the connect time of TCP sessions, and ignores a session that never connected', () => {
    const servers = [new FakeServer('a'), new FakeServer('b')];
    const { b } = setup(servers, { default_latency: 1 });
    b.release!(servers[0]!, connected(5));
    b.release!(servers[1]!, connected(80));
    b.release!(servers[0]!, connected(-1));
    b.release!(servers[0]!, answered(-1));
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'a');
  });

  it('forgets what it measured of a server that went away and came back', () => {
    const servers = [new FakeServer('a'), new FakeServer('b')];
    const { b } = setup(servers, { default_latency: 1 });
    b.release!(servers[0]!, answered(5));
    b.release!(servers[1]!, answered(900));
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'a');
    b.onServerState!(servers[1]!);
    // b starts again from the default, 1 ms.
    assert.equal(pickAs(b, servers, fakeContext(1))?.name, 'b');
  });

  it('pulls a high first guess down towards lower samples only as time passes', () => {
    // A new server's default latency is a prior, as in Linkerd: one fast answer does not erase it.
    const servers = [new FakeServer('a'), new FakeServer('b')];
    const { b, clock } = setup(servers, { default_latency: '100ms', decay: '1s' });
    b.release!(servers[1]!, answered(150));
    b.release!(servers[0]!, answered(5));
    servers[0]!.active = 1;
    // a: 100 × 2 against b: 150 × 1.
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'b', 'a fell to 5 ms at once');
    clock.t += 1000;
    b.release!(servers[0]!, answered(5));
    b.release!(servers[1]!, answered(150));
    // A second later a is at 100 × e^-1 + 5 × (1 - e^-1) ≈ 40: 40 × 2 against 150.
    assert.equal(pickAs(b, servers, fakeContext(1))?.name, 'a');
  });

  it('keeps in-flight work in proportion to weights under concurrent load', () => {
    const servers = [new FakeServer('a', 3), new FakeServer('b', 1)];
    const { b, clock } = setup(servers);
    const inFlight: FakeServer[] = [];
    const seen = new Map<string, number>();
    for (let i = 0; i < 4000; i++) {
      clock.t += 1;
      const s = pickAs(b, servers, fakeContext(i)) as FakeServer;
      s.active++;
      inFlight.push(s);
      seen.set(s.name, (seen.get(s.name) ?? 0) + 1);
      // 40 in flight; every request takes 40 ms on either server.
      if (inFlight.length === 40) {
        const done = inFlight.shift()!;
        done.active--;
        b.release!(done, answered(40));
      }
    }
    assert.ok(Math.abs(seen.get('a')! - 3000) <= 150, `a: ${seen.get('a')}`);
  });

  it('refuses options it does not know or cannot use', () => {
    const servers = [new FakeServer('a')];
    assert.throws(
      () => setup(servers, { decay: 'soon' }),
      /backends\.b\.balance_options\.decay: algorithm "ewma": expected a duration such as 30s, 500ms, 5m or a number of milliseconds, found "soon"$/,
    );
    assert.throws(
      () => setup(servers, { default_latency: 0 }),
      /backends\.b\.balance_options\.default_latency: algorithm "ewma": expected a duration above zero such as 10s or 250ms, found 0$/,
    );
    assert.throws(() => setup(servers, { choices: 1.5 }), /backends\.b\.balance_options\.choices: algorithm "ewma": expected a whole number, found 1\.5$/);
    assert.throws(
      () => setup(servers, { decay_ms: 10 }),
      /backends\.b\.balance_options\.decay_ms: algorithm "ewma": unknown key "decay_ms" \(expected one of: decay, default_latency, choices\)$/,
    );
  });
});
