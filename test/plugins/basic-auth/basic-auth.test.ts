// The basic-auth plugin: scrypt hashes, the RFC 7617 challenge on every refusal, the
// Authorization header stripped, successful verifications cached (counted by the
// plugin's verification counter) for their TTL on the injected clock, per-route use.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes, scryptSync } from 'node:crypto';
import { createTestGateway, echoed as seen, get, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';
import { optionProblems } from '../route-actions/fixture.ts';

/** As the README's one-liner makes them (N lowered for the tests' speed). */
function scryptHash(password: string, N = 1024, r = 8, p = 1): string {
  const salt = randomBytes(16);
  return ['scrypt', N, r, p, salt.toString('base64'), scryptSync(password, salt, 32, { N, r, p }).toString('base64')].join('$');
}
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

let origin: TestOrigin;
let gw: TestGateway;

/** scrypt runs so far, as the plugin counts them. */
const verifications = () =>
  gw
    .metrics()
    .find((m) => m.name === 'basic_auth_verifications_total')
    ?.values.reduce((sum, v) => sum + ('value' in v ? v.value : 0), 0) ?? 0;

before(async () => {
  const users = { alice: scryptHash('wonderland'), zoë: scryptHash('pässwörd') };
  gw = await createTestGateway({
    config: {
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          routes: [
            {
              name: 'private',
              match: { path: '/private' },
              plugins: [{ use: 'basic-auth', options: { users, realm: 'staff', forward_user: 'x-user', cache: { ttl: '30s' } } }],
            },
            { name: 'uncached', match: { path: '/uncached' }, plugins: [{ use: 'basic-auth', options: { users, cache: { ttl: 0 }, strip: false } }] },
            { name: 'public', match: { path: '/public' } },
          ],
        },
      },
      backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
    },
    origins: { app: 'echo' },
    clock: { start: 1_000_000 },
  });
  origin = gw.origins.app!;
});
after(() => gw?.close());

describe('basic-auth', () => {
  it('a right password passes: the user goes to the server, Authorization does not', async () => {
    const r = await get(gw.url('/private'), { authorization: basic('alice', 'wonderland'), 'x-user': 'root' });
    assert.equal(r.status, 200);
    assert.equal(seen(r).headers['x-user'], 'alice', "the client's own x-user is replaced");
    assert.equal(seen(r).headers.authorization, undefined);
  });

  it('user names and passwords are UTF-8', async () => {
    const r = await get(gw.url('/private'), { authorization: basic('zoë', 'pässwörd') });
    assert.equal(r.status, 200);
    assert.equal(seen(r).headers['x-user'], encodeURIComponent('zoë'));
  });

  it('missing, wrong and malformed credentials get a 401 with the Basic challenge, before the origin', async () => {
    const before = origin.requests.length;
    const cases: Record<string, string>[] = [
      {},
      { authorization: '' },
      { authorization: basic('alice', 'Wonderland') },
      { authorization: basic('alice', '') },
      { authorization: basic('mallory', 'wonderland') },
      { authorization: basic('', 'wonderland') },
      { authorization: `Basic ${Buffer.from('alice-wonderland').toString('base64')}` },
      { authorization: 'Basic not base64!' },
      { authorization: `Basic ${Buffer.from([0x61, 0x3a, 0xff, 0xfe]).toString('base64')}` },
      { authorization: 'Bearer abc' },
      { authorization: basic('alice', 'wonderland').replace('Basic', 'Digest') },
    ];
    for (const headers of cases) {
      const r = await get(gw.url('/private'), headers);
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.headers['www-authenticate'], 'Basic realm="staff", charset="UTF-8"');
      assert.equal(JSON.parse(r.body).error, 'unauthorized');
    }
    assert.equal(origin.requests.length, before);
  });

  it('a verified password is remembered: the next request does not compute the hash again, until the TTL passes', async () => {
    const auth = { authorization: basic('alice', 'wonderland') };
    gw.clock.advance(60_000); // past anything earlier tests left
    const start = verifications();
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal(verifications(), start + 1);
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal(verifications(), start + 1, 'cached');
    gw.clock.advance(29_000);
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal(verifications(), start + 1, 'still within 30 s');
    gw.clock.advance(2_000);
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal(verifications(), start + 2, 'verified again after 30 s');
    // A wrong password is never remembered as right, nor does it evict the right one.
    assert.equal((await get(gw.url('/private'), { authorization: basic('alice', 'wrong') })).status, 401);
    assert.equal((await get(gw.url('/private'), { authorization: basic('alice', 'wrong') })).status, 401);
    assert.equal(verifications(), start + 4);
    assert.equal((await get(gw.url('/private'), auth)).status, 200);
    assert.equal(verifications(), start + 4);
  });

  it('concurrent requests with the same credentials share one verification', async () => {
    gw.clock.advance(60_000);
    const start = verifications();
    const replies = await Promise.all(Array.from({ length: 8 }, () => get(gw.url('/private'), { authorization: basic('zoë', 'pässwörd') })));
    assert.deepEqual(
      replies.map((r) => r.status),
      Array(8).fill(200),
    );
    assert.equal(verifications(), start + 1);
  });

  it('cache.ttl 0 verifies every request; strip: false sends Authorization on; a route without the plugin is open', async () => {
    const start = verifications();
    const auth = { authorization: basic('alice', 'wonderland') };
    const r = await get(gw.url('/uncached'), auth);
    assert.equal(r.status, 200);
    assert.equal(seen(r).headers.authorization, auth.authorization);
    await get(gw.url('/uncached'), auth);
    assert.equal(verifications(), start + 2);
    assert.equal((await get(gw.url('/uncached'))).headers['www-authenticate'], 'Basic realm="tapgate", charset="UTF-8"');
    assert.equal((await get(gw.url('/public'))).status, 200);
  });

  it('check reports option problems at their key paths', async () => {
    const base = 'frontends.web.routes[0].plugins[0].options';
    const problems = (options: object) => optionProblems('basic-auth', options);
    assert.deepEqual(await problems({ users: { alice: 'wonderland' } }), [
      [`${base}.users.alice`, 'plugin "basic-auth" options: expected scrypt$N$r$p$salt$hash (salt and hash in base64), found "(hidden: maybe a password)"'],
    ]);
    assert.match((await problems({ users: { alice: scryptHash('x').replace('$1024$', '$1000$') } }))[0]![1], /expected N to be a power of two/);
    assert.match((await problems({ users: { alice: scryptHash('x').replace('$1024$', `$${2 ** 20}$`) } }))[0]![1], /expected 128·N·r to stay within 256 MiB/);
    assert.equal((await problems({ users: { 'a:b': scryptHash('x') } }))[0]![0], `${base}.users["a:b"]`);
    assert.deepEqual((await problems({ users: {} }))[0], [`${base}.users`, 'plugin "basic-auth" options: expected at least one user, found an empty mapping']);
    assert.equal((await problems({ users: { alice: scryptHash('x') }, cache: { ttl: 'soon' } }))[0]![0], `${base}.cache.ttl`);
  });
});
