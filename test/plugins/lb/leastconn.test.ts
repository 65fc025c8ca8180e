import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { leastConnections } from '../../../plugins/lb/leastconn.ts';
import { balancerConformance, FakeServer, fakeContext, makeBalancer, pickAs } from './common.case.ts';

// Nothing is in flight at pick time in the suite: every pick is a tie, broken by smooth weighted round robin.
balancerConformance('leastconn', leastConnections, { exactWeights: true });

describe('leastconn', () => {
  const make = (servers: FakeServer[]) => makeBalancer(leastConnections, { servers });

  it('prefers the idle server', () => {
    const servers = [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
    servers[0]!.active = 4;
    servers[2]!.active = 1;
    assert.equal(pickAs(make(servers), servers, fakeContext(0))?.name, 'b');
  });

  it('weighs what is in flight against the weight', () => {
    // a: 2 in flight for weight 3 (0.67 each); b: 1 for weight 1.
    const servers = [new FakeServer('a', 3), new FakeServer('b', 1)];
    servers[0]!.active = 2;
    servers[1]!.active = 1;
    assert.equal(pickAs(make(servers), servers, fakeContext(0))?.name, 'a');
  });

  it('takes turns among servers equally loaded', () => {
    const servers = [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
    for (const s of servers) s.active = 2;
    const b = make(servers);
    assert.equal(Array.from({ length: 6 }, (_, i) => pickAs(b, servers, fakeContext(i))?.name).join(''), 'abcabc');
  });

  it('keeps in-flight work in proportion to weights as requests pile up', () => {
    const servers = [new FakeServer('a', 2), new FakeServer('b', 1), new FakeServer('c', 1)];
    const b = make(servers);
    for (let i = 0; i < 400; i++) (pickAs(b, servers, fakeContext(i)) as FakeServer).active++;
    assert.deepEqual(
      servers.map((s) => s.active),
      [200, 100, 100],
    );
  });

  it('sends new work to the server whose requests finished', () => {
    const servers = [new FakeServer('a'), new FakeServer('b')];
    servers[0]!.active = 3;
    servers[1]!.active = 3;
    const b = make(servers);
    servers[1]!.active = 1;
    assert.equal(pickAs(b, servers, fakeContext(0))?.name, 'b');
    assert.equal(pickAs(b, servers, fakeContext(1))?.name, 'b');
  });
});
