import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { headerHash } from '../../../plugins/lb/hdr.ts';
import { checkConfig } from '../../../core/config/check.ts';
import { formatProblem } from '../../../core/config/problems.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { startGateway, startOrigin, tempDir, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
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
    assert.throws(() => makeBalancer(headerHash, { servers: servers() }), /backends\.b\.balance: algorithm "hdr" needs an argument: the header to hash, as in balance: hdr\(x-user\)$/);
  });
});

describe('hdr in a gateway', () => {
  let origins: TestOrigin[];
  let gw: TestGateway;

  before(async () => {
    origins = await Promise.all(['a', 'b', 'c'].map((n) => startOrigin(n)));
    gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: { balance: 'hdr(x-user)', balance_options: { hash_type: 'consistent' }, servers: origins.map((o, i) => ({ name: 'abc'[i], address: o.address })) } },
    });
  });
  after(async () => {
    await gw.close();
    await Promise.all(origins.map((o) => o.close()));
  });

  it('sends every request of a user to one server, and users to all of them', async () => {
    const homes = new Set<string>();
    for (let user = 0; user < 30; user++) {
      const seen = new Set<string>();
      for (let i = 0; i < 3; i++) seen.add(await (await fetch(gw.url(`/r${i}`), { headers: { 'x-user': `user-${user}` } })).text());
      assert.equal(seen.size, 1, `user-${user} reached ${[...seen]}`);
      homes.add([...seen][0]!);
    }
    assert.equal(homes.size, 3);
  });

  it('`balance: hdr` without a header is a config problem', async () => {
    const dir = tempDir();
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(file, 'frontends:\n  web: { bind: "127.0.0.1:0", default_backend: app }\nbackends:\n  app:\n    balance: hdr\n    servers: [{ name: a, address: "127.0.0.1:9" }]\n');
    try {
      const result = await checkConfig(file, { builtins, logger: createLogger('silent') });
      assert.equal(result.ok, false);
      assert.match(result.problems.map(formatProblem).join('\n'), /tapgate\.yaml:5:14: error: backends\.app\.balance: algorithm "hdr" needs an argument: the header to hash, as in balance: hdr\(x-user\)$/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
