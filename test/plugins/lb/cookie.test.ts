import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cookieHash } from '../../../plugins/lb/cookie.ts';
import { balancerConformance, FakeServer, fakeContext, fakeTcpContext, makeBalancer, pickAs } from './common.case.ts';

balancerConformance('cookie (map-based)', cookieHash, { argument: 'session' });
balancerConformance('cookie (consistent)', cookieHash, { argument: 'session', options: { hash_type: 'consistent' }, tolerance: 0.2 });

describe('cookie', () => {
  const servers = () => [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
  const make = (s: FakeServer[], options = {}) => makeBalancer(cookieHash, { servers: s, argument: 'session', options });

  for (const hash_type of ['map-based', 'consistent']) {
    it(`${hash_type}: a session goes to the same server from any client, whatever its other cookies`, () => {
      const s = servers();
      const b = make(s, { hash_type });
      for (let session = 0; session < 50; session++) {
        const home = pickAs(b, s, fakeContext(0, { headers: { cookie: `session=${session}` } }));
        for (let i = 1; i < 20; i++) assert.equal(pickAs(b, s, fakeContext(i, { headers: { cookie: `lang=l${i}; session=${session}` } })), home);
      }
    });
  }

  it('places requests without the cookie, or with it empty, and TCP sessions round robin', () => {
    const s = servers();
    const b = make(s);
    const without = [
      fakeContext(0, { headers: {} }),
      fakeContext(0, { headers: { cookie: 'other=1' } }),
      fakeContext(0, { headers: { cookie: 'session=' } }),
      fakeTcpContext(0),
    ];
    for (const ctx of without) assert.equal(Array.from({ length: 6 }, () => pickAs(b, s, ctx)!.name).join(''), 'abcabc');
  });

  it('refuses to start without a cookie name', () => {
    assert.throws(
      () => makeBalancer(cookieHash, { servers: servers() }),
      /backends\.b\.balance: algorithm "cookie" needs an argument: the cookie to hash, as in balance: cookie\(session\)$/,
    );
  });
});
