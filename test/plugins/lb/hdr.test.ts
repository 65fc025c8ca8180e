import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { checkTestConfig, createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import { headerHash } from '../../../plugins/lb/hdr.ts';
import { balancerConformance, FakeServer, fakeContext, fakeTcpContext, makeBalancer, pickAs } from './common.case.ts';

balancerConformance('hdr (map-based)', headerHash, { argument: 'x-user' });
balancerConformance('hdr (consistent)', headerHash, { argument: 'x-user', options: { hash_type: 'consistent' }, tolerance: 0.2 });

describe('hdr', () => {
  const servers = () => [new FakeServer('a'), new FakeServer('b'), new FakeServer('c')];
  const make = (s: FakeServer[], argument = 'x-user', options = {}) => makeBalancer(headerHash, { servers: s, argument, options });

  for (const hash_type of ['map-based', 'consistent']) {
    it(`${hash_type}: a header value goes to the same server from any client`, () => {
      const s = servers();
      const b = make(s, 'X-User', { hash_type });
      for (let user = 0; user < 50; user++) {
        const home = pickAs(b, s, fakeContext(0, { headers: { 'x-user': `u${user}` } }));
        for (let i = 1; i < 20; i++) assert.equal(pickAs(b, s, fakeContext(i, { headers: { 'x-user': `u${user}`, 'x-other': `${i}` } })), home);
      }
    });
  }

  it('places requests without the header, and TCP sessions, round robin (as HAProxy does)', () => {
    const s = servers();
    const b = make(s);
    for (const ctx of [fakeContext(0, { headers: {} }), fakeContext(0, { headers: { 'x-user': '' } }), fakeTcpContext(0)]) {
      assert.equal(Array.from({ length: 6 }, () => pickAs(b, s, ctx)!.name).join(''), 'abcabc');
    }
  });

  it('refuses to start without a header name', () => {
    assert.throws(
      () => makeBalancer(headerHash, { servers: servers() }),
      /backends\.b\.balance: algorithm "hdr" needs an argument: the header to hash, as in balance: hdr\(x-user\)$/,
    );
  });
});

describe('hdr in a gateway', () => {
  let gw: TestGateway;

  before(async () => {
    gw = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: {
          app: {
            balance: 'hdr(x-user)',
            balance_options: { hash_type: 'consistent' },
            servers: ['a', 'b', 'c'].map((name) => ({ name, address: `origin:${name}` })),
          },
        },
      },
      origins: { a: 'name', b: 'name', c: 'name' },
    });
  });
  after(() => gw?.close());

  it('sends every request of a user to one server, and users to all of them', async () => {
    const homes = new Set<string>();
    for (let user = 0; user < 30; user++) {
      const seen = await gw.tally(3, (i) => ({ path: `/r${i}`, headers: { 'x-user': `user-${user}` } }));
      assert.deepEqual(Object.values(seen), [3], `user-${user} reached ${JSON.stringify(seen)}`);
      homes.add(Object.keys(seen)[0]!);
    }
    assert.equal(homes.size, 3);
  });

  it('`balance: hdr` without a header is a config problem', async () => {
    const result = await checkTestConfig({
      config:
        'frontends:\n  web: { bind: "127.0.0.1:0", default_backend: app }\nbackends:\n  app:\n    balance: hdr\n    servers: [{ name: a, address: "127.0.0.1:9" }]\n',
    });
    assert.equal(result.ok, false);
    assert.match(
      result.problems.map((p) => p.text).join('\n'),
      /tapgate\.yaml:5:14: error: backends\.app\.balance: algorithm "hdr" needs an argument: the header to hash, as in balance: hdr\(x-user\)$/m,
    );
  });
});
