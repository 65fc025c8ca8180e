import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { firstAvailable } from '../../../plugins/lb/first.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer, pickAs } from './common.case.ts';

const fillsInOrder = 'first fills one server up to its maxconn before it sends anything to the next, by design';
balancerConformance('first', firstAvailable, { skip: { fairness: fillsInOrder, weights: fillsInOrder } });

/** A server that stops being usable at `limit` in flight, as the kernel's servers do at their maxconn. */
class LimitedServer extends FakeServer {
  constructor(
    name: string,
    readonly limit: number,
  ) {
    super(name);
  }
  override get usable() {
    return super.usable && this.active < this.limit;
  }
}

describe('first', () => {
  it('fills servers in config order, each up to its maxconn', () => {
    const servers = [new LimitedServer('a', 2), new LimitedServer('b', 2), new LimitedServer('c', 1)];
    const b = makeBalancer(firstAvailable, { servers });
    const seq = Array.from({ length: 6 }, (_, i) => {
      const s = pickAs(b, servers, fakeContext(i));
      if (s) (s as LimitedServer).active++;
      return s?.name ?? '-';
    });
    assert.equal(seq.join(''), 'aabbc-');
  });

  it('goes back to the first server as soon as it has room', () => {
    const servers = [new LimitedServer('a', 1), new LimitedServer('b', 1)];
    const b = makeBalancer(firstAvailable, { servers });
    (pickAs(b, servers, fakeContext(0)) as LimitedServer).active++;
    assert.equal(pickAs(b, servers, fakeContext(1))?.name, 'b');
    servers[0]!.active--;
    assert.equal(pickAs(b, servers, fakeContext(2))?.name, 'a');
  });

  it('ignores weights', () => {
    const servers = [new FakeServer('a', 1), new FakeServer('b', 10)];
    assert.equal(pickAs(makeBalancer(firstAvailable, { servers }), servers, fakeContext(0))?.name, 'a');
  });
});
