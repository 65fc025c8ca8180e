import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ServerView } from 'tapgate/sdk';
import { staticRoundRobin } from '../../../plugins/lb/static-rr.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer } from './common.case.ts';

balancerConformance('static-rr', staticRoundRobin, { exactWeights: true });

describe('static-rr', () => {
  const make = (servers: FakeServer[]) => makeBalancer(staticRoundRobin, { servers });
  const picks = (b: ReturnType<typeof make>, eligible: readonly ServerView[], n: number) =>
    Array.from({ length: n }, (_, i) => b.pick(fakeContext(i), eligible)?.name).join('');

  it("spreads a heavy server's turns over the cycle", () => {
    const servers = [new FakeServer('a', 3), new FakeServer('b', 1)];
    assert.equal(picks(make(servers), servers, 8), 'aabaaaba');
  });

  it('gives each server exactly its weight in every cycle', () => {
    const servers = [new FakeServer('a', 3), new FakeServer('b', 2)];
    const seq = picks(make(servers), servers, 50);
    for (let i = 0; i < 50; i += 5) assert.equal([...seq.slice(i, i + 5)].filter((c) => c === 'a').length, 3, seq.slice(i, i + 5));
  });

  it('keeps the weights it read at load when a weight changes later (slowstart)', () => {
    const servers = [new FakeServer('a', 1), new FakeServer('b', 1)];
    const b = make(servers);
    (servers[0] as { weight: number }).weight = 9;
    const seq = picks(b, servers, 100);
    assert.equal([...seq].filter((c) => c === 'a').length, 50);
  });

  it('keeps exact shares among the others while one server sits out at its maxconn', () => {
    const servers = [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
    const b = make(servers);
    picks(b, servers, 7);
    const withoutB = [servers[0]!, servers[2]!];
    const seq = picks(b, withoutB, 200);
    assert.equal([...seq].filter((c) => c === 'a').length, 100);
    assert.equal([...seq].filter((c) => c === 'c').length, 100);
    const back = picks(b, servers, 300);
    for (const n of 'abc') assert.equal([...back].filter((c) => c === n).length, 100, n);
  });

  it('keeps exact shares when most servers have left', () => {
    const servers = Array.from({ length: 10 }, (_, i) => new FakeServer(String.fromCharCode(97 + i), i === 9 ? 5 : 1));
    const b = make(servers);
    picks(b, servers, 3);
    const left = [servers[0]!, servers[9]!];
    const seq = picks(b, left, 60);
    assert.equal([...seq].filter((c) => c === 'j').length, 50, seq);
  });
});
