import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { powerOfChoices } from '../../../plugins/lb/random.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer, pickAs, seeded } from './common.case.ts';

balancerConformance('random', powerOfChoices);
balancerConformance('random, choices: 1', powerOfChoices, { options: { choices: 1 } });

describe('random (power of two choices)', () => {
  const make = (servers: FakeServer[], options: Record<string, unknown> = {}, seed = 7) =>
    makeBalancer(powerOfChoices, { servers, options, random: seeded(seed) });
  const shares = (servers: FakeServer[], picks: number, options: Record<string, unknown> = {}) => {
    const b = make(servers, options);
    const seen = new Map<string, number>();
    for (let i = 0; i < picks; i++) {
      const s = pickAs(b, servers, fakeContext(i))!;
      seen.set(s.name, (seen.get(s.name) ?? 0) + 1);
    }
    return seen;
  };

  it('spreads picks over idle servers within a few percent', () => {
    const servers = ['a', 'b', 'c', 'd', 'e'].map((n) => new FakeServer(n));
    const seen = shares(servers, 10_000);
    for (const s of servers) assert.ok(Math.abs(seen.get(s.name)! - 2000) <= 150, `${s.name}: ${seen.get(s.name)}`);
  });

  it('never sends to the most loaded server', () => {
    const servers = ['a', 'b', 'c', 'd'].map((n) => new FakeServer(n));
    servers[0]!.active = 5;
    assert.equal(shares(servers, 2000).get('a'), undefined);
  });

  it('keeps work in flight even as requests pile up', () => {
    const servers = ['a', 'b', 'c', 'd'].map((n) => new FakeServer(n));
    const b = make(servers);
    for (let i = 0; i < 400; i++) (pickAs(b, servers, fakeContext(i)) as FakeServer).active++;
    const loads = servers.map((s) => s.active);
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 2, `in flight: ${loads}`);
  });

  it('keeps a heavy server to its share among light ones', () => {
    const servers = [new FakeServer('heavy', 200), new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
    const seen = shares(servers, 20_300);
    assert.ok(Math.abs(seen.get('heavy')! - 20_000) <= 100, `heavy: ${seen.get('heavy')}`);
    for (const n of ['a', 'b', 'c']) assert.ok(Math.abs(seen.get(n)! - 100) <= 40, `${n}: ${seen.get(n)}`);
  });

  it('with choices: 1 draws by weight alone, busy or not', () => {
    const servers = ['a', 'b', 'c', 'd'].map((n) => new FakeServer(n));
    servers[0]!.active = 5;
    const seen = shares(servers, 4000, { choices: 1 });
    assert.ok(Math.abs(seen.get('a')! - 1000) <= 120, `a: ${seen.get('a')}`);
  });

  it('refuses options it does not know or cannot use', () => {
    const servers = [new FakeServer('a')];
    assert.throws(() => make(servers, { choices: 0 }), /backends\.b\.balance_options\.choices: algorithm "random": expected a number >= 1, found 0$/);
    assert.throws(() => make(servers, { choices: 'two' }), /backends\.b\.balance_options\.choices: algorithm "random": expected a number, found "two"$/);
    assert.throws(
      () => make(servers, { choice: 2 }),
      /backends\.b\.balance_options\.choice: algorithm "random": unknown key "choice" \(did you mean "choices"\?\)$/,
    );
  });
});
