import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { roundRobin } from '../../../plugins/lb/roundrobin.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer, pickAs } from './common.case.ts';

balancerConformance('roundrobin', roundRobin, { exactWeights: true });

describe('roundrobin', () => {
  const picks = (servers: FakeServer[], n: number) => {
    const b = makeBalancer(roundRobin, { servers });
    return Array.from({ length: n }, (_, i) => pickAs(b, servers, fakeContext(i))?.name).join('');
  };

  it('interleaves weighted servers smoothly instead of in bursts', () => {
    assert.equal(picks([new FakeServer('a', 5), new FakeServer('b', 1), new FakeServer('c', 1)], 7), 'aabacaa');
  });

  it('gives each server exactly its weight over every cycle', () => {
    const seq = picks([new FakeServer('a', 3), new FakeServer('b', 2)], 50);
    for (let i = 0; i < 50; i += 5) {
      const cycle = seq.slice(i, i + 5);
      assert.equal([...cycle].filter((c) => c === 'a').length, 3, cycle);
    }
  });
});
