import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { uriHash } from '../../../plugins/lb/uri.ts';
import { balancerConformance, FakeServer, fakeContext, fakeTcpContext, makeBalancer, pickAs } from './common.case.ts';

balancerConformance('uri (map-based)', uriHash);
balancerConformance('uri (consistent)', uriHash, { options: { hash_type: 'consistent' }, tolerance: 0.2 });
balancerConformance('uri (whole)', uriHash, { options: { whole: true } });

describe('uri', () => {
  const servers = () => [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
  const make = (s: FakeServer[], options = {}) => makeBalancer(uriHash, { servers: s, options });
  const names = (b: ReturnType<typeof makeBalancer>, s: FakeServer[], urls: string[]) => urls.map((url, i) => pickAs(b, s, fakeContext(i, { url }))!.name);

  for (const hash_type of ['map-based', 'consistent']) {
    it(`${hash_type}: a path goes to the same server from any client, whatever its query`, () => {
      const s = servers();
      const b = make(s, { hash_type });
      for (let p = 0; p < 50; p++) {
        const placed = new Set(
          names(
            b,
            s,
            Array.from({ length: 20 }, (_, q) => `/obj/${p}?q=${q}`),
          ),
        );
        assert.equal(placed.size, 1, `/obj/${p}`);
      }
    });
  }

  it('with whole: true, the query is part of the key', () => {
    const s = servers();
    const b = make(s, { whole: true });
    const urls = Array.from({ length: 60 }, (_, q) => `/obj/1?q=${q}`);
    assert.equal(new Set(names(b, s, urls)).size, 3);
    assert.deepEqual(names(b, s, urls), names(b, s, urls));
  });

  it('places TCP sessions, which have no path, round robin', () => {
    const s = servers();
    const b = make(s, { hash_type: 'consistent' });
    assert.equal(Array.from({ length: 6 }, (_, i) => pickAs(b, s, fakeTcpContext(0))!.name).join(''), 'abcabc');
  });

  it('refuses an argument, and a whole that is not a boolean', () => {
    assert.throws(
      () => makeBalancer(uriHash, { servers: servers(), argument: 'x' }),
      /backends\.b\.balance: algorithm "uri" takes no argument, found uri\(x\)/,
    );
    assert.throws(
      () => makeBalancer(uriHash, { servers: servers(), options: { whole: 'yes' } }),
      /backends\.b\.balance_options\.whole: algorithm "uri": expected true or false, found "yes"$/,
    );
  });
});
