// The jwt plugin with local keys: valid tokens from RS256 (PEM), ES256 (JWK file) and
// EdDSA (JWKS file), every attack refused with a 401 before the origin sees anything,
// 403 for a good token lacking a claim, the token's other places, forwarding and stripping.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createTestGateway, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';
import { b64, bearer, get, makeKey, nowSeconds, sign, type Reply, type TestKey } from './tokens.ts';

let rsa: TestKey, ec: TestKey, ed: TestKey, stranger: TestKey;
let origin: TestOrigin;
let gw: TestGateway;
/** Where jku / x5u point, counting requests. */
let attacker: http.Server;
let attackerHits = 0;
let attackerUrl = '';

const issuer = 'https://id.example.com';
const audience = 'api://orders';
const good = (key: TestKey, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
  sign(key, { iss: issuer, aud: audience, scope: 'read write', role: 'user', ...claims }, header);

before(async () => {
  [rsa, ec, ed, stranger] = await Promise.all([makeKey('RS256', 'rsa-1'), makeKey('ES256', 'ec-1'), makeKey('EdDSA', 'ed-1'), makeKey('RS256', 'rsa-1')]);
  // Where jku / x5u headers point: the gateway must never ask.
  attacker = http.createServer((req, res) => {
    attackerHits++;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [stranger.jwk] }));
  });
  await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
  attackerUrl = `http://127.0.0.1:${(attacker.address() as net.AddressInfo).port}/jwks.json`;
  gw = await createTestGateway({
    config: {
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          routes: [
            {
              name: 'orders',
              match: { path: '/orders' },
              plugins: [
                {
                  use: 'jwt',
                  options: {
                    keys: ['rsa.pem', 'ec.jwk.json', 'ed.jwks.json'],
                    issuer,
                    audience,
                    required_claims: ['email'],
                    claims: { scope: { contains: 'read' } },
                    forward: { sub: 'x-user-id', scope: 'x-user-scope' },
                    strip: true,
                  },
                },
              ],
            },
            { name: 'public', match: { path: '/public' } },
            {
              name: 'cookie',
              match: { path: '/cookie' },
              plugins: [{ use: 'jwt', options: { keys: ['rsa.pem'], from: { cookie: 'session' }, strip: true, realm: 'shop' } }],
            },
            {
              name: 'query',
              match: { path: '/query' },
              plugins: [{ use: 'jwt', options: { keys: ['rsa.pem'], from: { query: 'access_token' }, strip: true } }],
            },
            {
              name: 'hmac',
              match: { path: '/hmac' },
              plugins: [{ use: 'jwt', options: { secret: 's'.repeat(40) } }],
            },
          ],
        },
      },
      backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
    },
    origins: { app: 'echo' },
    files: {
      'rsa.pem': rsa.pem,
      'ec.jwk.json': JSON.stringify(ec.jwk),
      'ed.jwks.json': JSON.stringify({ keys: [ed.jwk] }),
    },
  });
  origin = gw.origins.app!;
});

after(async () => {
  await gw?.close();
  attacker?.close();
});

/** Every fact of the keys that must never be shown: PEM bodies, JWK members. */
const secrets = () => [rsa.pem.split('\n')[1]!, String(rsa.jwk.n).slice(0, 40), String(ec.jwk.x), String(ed.jwk.x), 'BEGIN', 'stack', 'Error:'];

function assertNoKeyMaterial(r: Reply): void {
  const text = `${JSON.stringify(r.headers)} ${r.body}`;
  for (const s of secrets()) assert.ok(!text.includes(s), `the answer shows ${s.slice(0, 12)}…`);
}

/** A 401 invalid_token, the origin untouched. */
async function refused(name: string, headers: Record<string, string>, path = '/orders', description?: string | RegExp): Promise<Reply> {
  const seen = origin.requests.length;
  const r = await get(gw.url(path), headers);
  assert.equal(r.status, 401, `${name}: ${r.status} ${r.body}`);
  assert.match(String(r.headers['www-authenticate']), /^Bearer realm="tapgate", error="invalid_token", error_description="[^"]+"$/, name);
  if (description)
    assert.match(String(r.headers['www-authenticate']), typeof description === 'string' ? new RegExp(`error_description="${description}"`) : description, name);
  assert.equal(origin.requests.length, seen, `${name}: the origin was reached`);
  assertNoKeyMaterial(r);
  return r;
}

describe('jwt with local keys', () => {
  it('accepts valid RS256 (PEM), ES256 (JWK file) and EdDSA (JWKS file) tokens', async () => {
    for (const key of [rsa, ec, ed]) {
      const r = await get(gw.url('/orders'), bearer(await good(key, { email: 'a@example.com' })));
      assert.equal(r.status, 200, `${key.alg}: ${r.body}`);
    }
  });

  it("forwards claims as headers, drops a client's own copy of them, and strips the token", async () => {
    const r = await get(gw.url('/orders'), { ...bearer(await good(rsa, { email: 'a@example.com', sub: 'user-42' })), 'x-user-id': 'admin' });
    const seen = JSON.parse(r.body) as { headers: Record<string, string> };
    assert.equal(seen.headers['x-user-id'], 'user-42');
    assert.equal(seen.headers['x-user-scope'], 'read write');
    assert.equal(seen.headers.authorization, undefined);
  });

  it('answers a request without a token 401 with a realm and no error code', async () => {
    const seen = origin.requests.length;
    const r = await get(gw.url('/orders'));
    assert.equal(r.status, 401);
    assert.equal(r.headers['www-authenticate'], 'Bearer realm="tapgate"');
    assert.equal(origin.requests.length, seen);
    // Another scheme is no bearer token either.
    const basic = await get(gw.url('/orders'), { authorization: 'Basic YWxpY2U6c2VjcmV0' });
    assert.equal(basic.headers['www-authenticate'], 'Bearer realm="tapgate"');
  });

  it('answers 403 insufficient_scope for a valid token lacking a required claim or failing a rule', async () => {
    const noEmail = await get(gw.url('/orders'), bearer(await good(rsa)));
    assert.equal(noEmail.status, 403);
    assert.equal(noEmail.headers['www-authenticate'], 'Bearer realm="tapgate", error="insufficient_scope", error_description="missing claim email"');
    const noRead = await get(gw.url('/orders'), bearer(await good(rsa, { email: 'a@example.com', scope: 'write' })));
    assert.equal(noRead.status, 403);
    assert.match(String(noRead.headers['www-authenticate']), /error="insufficient_scope"/);
    assertNoKeyMaterial(noRead);
  });

  it('leaves routes without the plugin alone', async () => {
    assert.equal((await get(gw.url('/public'))).status, 200);
  });

  describe('refuses every attack with 401, before the origin', () => {
    it('alg none', async () => {
      const payload = b64({ sub: 'alice', iss: issuer, aud: audience, exp: nowSeconds() + 600, email: 'a@example.com', scope: 'read' });
      for (const alg of ['none', 'None', 'NONE']) {
        await refused(`alg ${alg}`, bearer(`${b64({ alg, typ: 'JWT' })}.${payload}.`), '/orders', 'algorithm not allowed');
        await refused(`alg ${alg}, no dot`, bearer(`${b64({ alg })}.${payload}`));
      }
    });

    it('an HS256 token signed with the RSA public key (PEM bytes as the HMAC secret)', async () => {
      const claims = { sub: 'alice', iss: issuer, aud: audience, email: 'a@example.com', scope: 'read' };
      for (const secret of [rsa.pem, rsa.pem.trim(), JSON.stringify(rsa.jwk)]) {
        const token = await new SignJWT(claims)
          .setProtectedHeader({ alg: 'HS256', kid: 'rsa-1' })
          .setExpirationTime('10m')
          .sign(new TextEncoder().encode(secret));
        await refused('HS256 with the public key', bearer(token), '/orders', 'algorithm not allowed');
      }
    });

    it('a stripped or empty signature, or one from another token', async () => {
      const [h, p, s] = (await good(rsa, { email: 'a@example.com' })).split('.');
      await refused('stripped', bearer(`${h}.${p}`), '/orders', 'malformed token');
      await refused('empty', bearer(`${h}.${p}.`), '/orders', 'invalid signature');
      const other = (await good(rsa, { email: 'b@example.com', role: 'admin' })).split('.')[1];
      await refused('payload swapped', bearer(`${h}.${other}.${s}`), '/orders', 'invalid signature');
      await refused(
        "signature of a stranger's key with the same kid",
        bearer(await good(stranger, { email: 'a@example.com' })),
        '/orders',
        'invalid signature',
      );
    });

    it('expired, not yet valid (beyond the 30 s clock skew), without expiry', async () => {
      await refused('expired', bearer(await good(rsa, { email: 'a@example.com', exp: nowSeconds() - 60 })), '/orders', 'token expired');
      await refused('not yet valid', bearer(await good(rsa, { email: 'a@example.com', nbf: nowSeconds() + 120 })), '/orders', 'token not yet valid');
      await refused('no exp', bearer(await good(rsa, { email: 'a@example.com', exp: undefined })), '/orders', 'token has no valid expiry');
      // Within the skew: accepted.
      const r = await get(gw.url('/orders'), bearer(await good(rsa, { email: 'a@example.com', exp: nowSeconds() - 10, nbf: nowSeconds() + 10 })));
      assert.equal(r.status, 200);
    });

    it('wrong issuer, wrong audience', async () => {
      await refused('issuer', bearer(await good(rsa, { email: 'a@example.com', iss: 'https://evil.example' })), '/orders', 'wrong issuer');
      await refused('audience', bearer(await good(rsa, { email: 'a@example.com', aud: 'api://other' })), '/orders', 'wrong audience');
    });

    it('a kid that does not exist, with path tricks, or very long', async () => {
      for (const kid of ['nope', '../../etc/passwd', '/etc/passwd', '..\\..\\windows', 'file:///etc/passwd', 'x'.repeat(2000), '', 'rsa-1\u0000']) {
        await refused(`kid ${kid.slice(0, 20)}`, bearer(await good(stranger, { email: 'a@example.com' }, { kid })));
      }
      await refused('kid not a string', bearer(await good(stranger, { email: 'a@example.com' }, { kid: 7 })));
    });

    it("jku, x5u and an embedded jwk pointing at the attacker's key are ignored", async () => {
      const claims = { email: 'a@example.com' };
      await refused('jku', bearer(await good(stranger, claims, { kid: 'attacker', jku: attackerUrl })));
      await refused('x5u', bearer(await good(stranger, claims, { kid: 'attacker', x5u: attackerUrl })));
      const embedded = { ...(await exportJWK(stranger.publicKey)) };
      await refused('embedded jwk', bearer(await good(stranger, claims, { kid: 'attacker', jwk: embedded })));
      await refused('embedded jwk, no kid', bearer(await good(stranger, claims, { kid: undefined, jwk: embedded })));
      assert.equal(attackerHits, 0, 'the gateway fetched a URL named by a token');
    });

    it('a token far too large: 401 above max_token_size, 431 above the header limit', async () => {
      const padded = await good(rsa, { email: 'a@example.com', pad: 'x'.repeat(9000) });
      await refused('9 KiB', bearer(padded), '/orders', 'token too large');
      const seen = origin.requests.length;
      const huge = await get(gw.url('/orders'), bearer(await good(rsa, { email: 'a@example.com', pad: 'x'.repeat(40_000) }))).catch(
        () => ({ status: 431 }) as Reply,
      );
      assert.ok(huge.status === 431 || huge.status === 401, `got ${huge.status}`);
      assert.equal(origin.requests.length, seen);
    });

    it('malformed base64 or JSON', async () => {
      const sig = (await good(rsa)).split('.')[2];
      for (const token of [
        '!!!.@@@.###',
        'a.b.c',
        `${b64('{not json')}.${b64({ sub: 'a' })}.${sig}`,
        `${b64({ alg: 'RS256', kid: 'rsa-1' })}.${b64('[]')}.${sig}`,
        `${b64('"RS256"')}.${b64({})}.${sig}`,
        'a.b.c.d.e',
        `${b64({ alg: 'RS256', kid: 'rsa-1' })}.%%%.${sig}`,
      ]) {
        await refused(`malformed ${token.slice(0, 16)}`, bearer(token));
      }
    });

    it('a token in the wrong place is no token: 401 without an error code', async () => {
      const token = await good(rsa, { email: 'a@example.com' });
      for (const [path, headers] of [
        [`/orders?access_token=${token}`, {}],
        ['/orders', { cookie: `session=${token}` }],
        ['/orders', { 'x-token': token }],
        ['/cookie', bearer(token)],
        ['/query', bearer(token)],
      ] as const) {
        const seen = origin.requests.length;
        const r = await get(gw.url(path), headers);
        assert.equal(r.status, 401, path);
        assert.doesNotMatch(String(r.headers['www-authenticate']), /error=/);
        assert.equal(origin.requests.length, seen);
      }
    });

    it('HS256 is refused where no secret is configured, and accepted with the secret', async () => {
      const hs = (secret: string) =>
        new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));
      await refused('HS256 without a secret', bearer(await hs('s'.repeat(40))), '/orders', 'algorithm not allowed');
      assert.equal((await get(gw.url('/hmac'), bearer(await hs('s'.repeat(40))))).status, 200);
      const wrong = await get(gw.url('/hmac'), bearer(await hs('t'.repeat(40))));
      assert.equal(wrong.status, 401);
      // The HMAC route never takes an RSA token (no public key there), nor an RSA key as secret.
      assert.equal((await get(gw.url('/hmac'), bearer(await good(rsa)))).status, 401);
    });
  });

  it('reads the token from a cookie or a query parameter and strips it before forwarding', async () => {
    const token = await sign(rsa);
    const c = await get(gw.url('/cookie'), { cookie: `a=1; session=${token}; b=2` });
    assert.equal(c.status, 200, c.body);
    assert.equal((JSON.parse(c.body) as { headers: Record<string, string> }).headers.cookie, 'a=1; b=2');
    const missing = await get(gw.url('/cookie'));
    assert.equal(missing.headers['www-authenticate'], 'Bearer realm="shop"');
    const q = await get(gw.url(`/query?x=1&access_token=${token}&y=2`));
    assert.equal(q.status, 200, q.body);
    assert.equal((JSON.parse(q.body) as { url: string }).url, '/query?x=1&y=2');
  });
});

describe('jwt configuration checks', () => {
  const attempt = async (options: object, files: Record<string, string> = {}) => {
    try {
      const g = await createTestGateway({
        config: {
          frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'jwt', options }] } },
          backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
        },
        files,
      });
      await g.close();
      return '';
    } catch (err) {
      return (err as Error).message;
    }
  };

  it('refuses alg none, HMAC without a secret, no keys at all, a private key file and a missing file', async () => {
    assert.match(await attempt({ keys: ['k.pem'], algorithms: ['none'] }, { 'k.pem': rsa.pem }), /alg "none" \(unsigned tokens\) is never accepted/);
    assert.match(
      await attempt({ keys: ['k.pem'], algorithms: ['HS256'] }, { 'k.pem': rsa.pem }),
      /HS256 needs a `secret`: HMAC is never checked with a public key/,
    );
    assert.match(await attempt({}), /expected keys to verify with/);
    assert.match(await attempt({ keys: ['nowhere.pem'] }), /keys\[0\] \(nowhere\.pem\): no such file/);
    assert.match(await attempt({ secret: 'short' }), /32 bytes at least/);
    assert.match(await attempt({ jwks_url: 'http://id.example.com/jwks.json' }), /https:\/\/ URL/);
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    const { exportPKCS8 } = await import('jose');
    const message = await attempt({ keys: ['k.pem'] }, { 'k.pem': await exportPKCS8(privateKey) });
    assert.match(message, /holds a private key/);
    assert.doesNotMatch(message, /BEGIN|MII/);
  });
});
