import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sourceHash } from '../../../plugins/lb/source.ts';
import { balancerConformance, FakeServer, fakeContext, fakeTcpContext, makeBalancer, pickAs } from './common.case.ts';

balancerConformance('source (map-based)', sourceHash);
// A ring of 100 points per unit of weight gives shares within about 10% (one σ) of the weights.
balancerConformance('source (consistent)', sourceHash, { options: { hash_type: 'consistent' }, tolerance: 0.2 });

describe('source', () => {
  const servers = () => [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
  const make = (s: FakeServer[], options = {}) => makeBalancer(sourceHash, { servers: s, options });

  for (const hash_type of ['map-based', 'consistent']) {
    it(`${hash_type}: a client reaches the same server whatever its port, path or headers`, () => {
      const s = servers();
      const b = make(s, { hash_type });
      for (let client = 0; client < 50; client++) {
        const address = `192.168.1.${client}`;
        const home = pickAs(b, s, fakeContext(0, { address }));
        for (let i = 1; i < 20; i++) assert.equal(pickAs(b, s, fakeContext(i, { address })), home);
      }
    });
  }

  it('places TCP sessions by client address, as it does HTTP requests', () => {
    const s = servers();
    const b = make(s);
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const session = fakeTcpContext(i);
      const server = pickAs(b, s, session)!;
      assert.equal(pickAs(b, s, fakeContext(i, { address: session.client.address })), server);
      seen.add(server.name);
    }
    assert.equal(seen.size, 3);
  });

  it('hashes an IPv4 client the same on an IPv4 and a dual-stack listener', () => {
    const s = servers();
    const b = make(s);
    for (let i = 0; i < 100; i++) {
      assert.equal(pickAs(b, s, fakeContext(0, { address: `::ffff:10.2.0.${i}` })), pickAs(b, s, fakeContext(0, { address: `10.2.0.${i}` })));
    }
  });

  it('refuses an argument', () => {
    assert.throws(
      () => makeBalancer(sourceHash, { servers: servers(), argument: 'x' }),
      /backends\.b\.balance: algorithm "source" takes no argument, found source\(x\) \(write balance: source\)$/,
    );
  });
});
