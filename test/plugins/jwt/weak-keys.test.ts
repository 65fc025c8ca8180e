// Weak keys refused where they enter: `check` for configured ones (each a problem at the
// plugin's key path), the JWKS fetch for remote ones (that key skipped and counted, the
// others kept); HMAC secrets shorter than the algorithm's hash.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { SignJWT } from 'jose';
import { checkTestConfig, createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import { hasRocaFingerprint } from '../../../plugins/jwt/keys.ts';
import { b64, bearer, get, makeKey, nowSeconds, sign, type TestKey } from './tokens.ts';

const unsigned = (n: bigint) => Buffer.from(n.toString(16).padStart(Math.ceil(n.toString(16).length / 2) * 2, '0'), 'hex').toString('base64url');
const rsaJwk = (bits = 2048) => generateKeyPairSync('rsa', { modulusLength: bits }).publicKey.export({ format: 'jwk' });
const withExponent = (e: bigint, kid: string) => ({ ...rsaJwk(), e: unsigned(e), kid });

/** A 2048-bit modulus with the ROCA fingerprint: 65537^c mod M plus a multiple of M, M the product of the fingerprint's primes. */
function rocaJwk(kid: string): JsonWebKey {
  const primes = [
    3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157,
    163, 167,
  ];
  const M = primes.reduce((m, p) => m * BigInt(p), 1n);
  let g = 1n;
  for (let i = 0; i < 1234; i++) g = (g * 65537n) % M;
  let n = ((1n << 2047n) / M + 12345n) * M + g;
  if (n % 2n === 0n) n += M;
  return { kty: 'RSA', n: unsigned(n), e: 'AQAB', kid };
}

/** An EC P-256 JWK whose point is not on the curve. */
function offCurveJwk(kid: string): JsonWebKey {
  const jwk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'jwk' });
  const y = Buffer.from(jwk.y!, 'base64url');
  y[31]! ^= 1;
  return { ...jwk, y: y.toString('base64url'), kid };
}

/** An RS256 token for a key with e = 1: its signature is the padded digest itself, made without any private key. */
function forgeForExponentOne(jwk: JsonWebKey, claims: Record<string, unknown>): string {
  const input = `${b64({ alg: 'RS256', kid: jwk.kid })}.${b64({ sub: 'mallory', exp: nowSeconds() + 600, ...claims })}`;
  const digestInfo = Buffer.concat([Buffer.from('3031300d060960864801650304020105000420', 'hex'), createHash('sha256').update(input).digest()]);
  const k = Buffer.from(jwk.n!, 'base64url').length;
  const em = Buffer.concat([Buffer.from([0, 1]), Buffer.alloc(k - 3 - digestInfo.length, 0xff), Buffer.from([0]), digestInfo]);
  return `${input}.${em.toString('base64url')}`;
}

describe('weak configured keys', () => {
  it('the ROCA fingerprint test finds a fingerprinted modulus, and not a random one', () => {
    assert.equal(hasRocaFingerprint(BigInt(`0x${Buffer.from(rocaJwk('r').n!, 'base64url').toString('hex')}`)), true);
    for (let i = 0; i < 5; i++) assert.equal(hasRocaFingerprint(BigInt(`0x${Buffer.from(rsaJwk().n!, 'base64url').toString('hex')}`)), false);
  });

  it('are each a check problem at the plugin that names them', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    const guarded = (name: string, options: Record<string, unknown>) => ({ name, match: { path: `/${name}` }, plugins: [{ use: 'jwt', options }] });
    const { ok, problems } = await checkTestConfig({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            routes: [
              guarded('one', { keys: [{ jwk: withExponent(1n, 'one') }] }),
              guarded('three', { keys: [{ jwk: withExponent(3n, 'three') }] }),
              guarded('even', { keys: ['even.jwk.json'] }),
              guarded('short', { keys: [{ file: 'short.pem', alg: 'RS256' }] }),
              guarded('roca', { keys: ['roca.jwks.json'] }),
              guarded('curve', { keys: [{ jwk: offCurveJwk('c') }] }),
              guarded('hs384', { secret: 'x'.repeat(40), algorithms: ['HS256', 'HS384'] }),
              guarded('hs512', { secret: 'x'.repeat(63), algorithms: ['HS512'] }),
              guarded('good', { keys: [{ jwk: rsaJwk() }], secret: 'x'.repeat(64), algorithms: ['RS256', 'HS512'] }),
            ],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
      },
      files: {
        'even.jwk.json': JSON.stringify(withExponent(65536n, 'even')),
        'short.pem': short,
        'roca.jwks.json': JSON.stringify({ keys: [rsaJwk(), rocaJwk('roca')] }),
      },
    });
    assert.equal(ok, false);
    const errors = problems.filter((p) => p.severity === 'error').map((p) => `${p.path}: ${p.message}`);
    const at = (i: number, pattern: RegExp) =>
      assert.ok(
        errors.some((e) => e.startsWith(`frontends.web.routes[${i}].plugins[0]`) && pattern.test(e)),
        `routes[${i}] ${pattern}:\n${errors.join('\n')}`,
      );
    at(0, /keys\[0\]: an RSA public exponent of 1 is weak/);
    at(1, /keys\[0\]: an RSA public exponent of 3 is weak/);
    at(2, /keys\[0\] \(even\.jwk\.json\): an RSA public exponent of 65536 is weak/);
    at(3, /keys\[0\] \(short\.pem\): an RSA key of 1024 bits is too short/);
    at(4, /keys\[0\] \(roca\.jwks\.json\): keys\[1\] \(kid "roca"\): the RSA modulus has the ROCA fingerprint/);
    at(5, /keys\[0\]: not a valid EC public key/);
    at(6, /options\.algorithms\[1\]: .*HS384 needs a secret of 48 bytes at least/);
    at(7, /options\.algorithms\[0\]: .*HS512 needs a secret of 64 bytes at least/);
    assert.equal(errors.length, 8, errors.join('\n'));
  });
});

describe('HMAC secrets', () => {
  let gw: TestGateway;
  const secret = 's'.repeat(40);
  const hmac = (alg: string) => new SignJWT({ sub: 'alice', exp: nowSeconds() + 600 }).setProtectedHeader({ alg }).sign(new TextEncoder().encode(secret));

  before(async () => {
    gw = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'jwt', options: { secret } }] } },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'name' },
    });
  });
  after(() => gw?.close());

  it('a 40-byte secret verifies HS256 only: not HS384 or HS512, whose hashes are longer', async () => {
    assert.equal((await get(gw.url('/'), bearer(await hmac('HS256')))).status, 200);
    assert.equal((await get(gw.url('/'), bearer(await hmac('HS384')))).status, 401);
    assert.equal((await get(gw.url('/'), bearer(await hmac('HS512')))).status, 401);
  });
});

describe('weak keys in a remote JWKS', () => {
  let good: TestKey;
  let one: JsonWebKey;
  let fetches = 0;
  let server: http.Server;
  let gw: TestGateway;

  before(async () => {
    good = await makeKey('RS256', 'good');
    one = withExponent(1n, 'one');
    const doc = { keys: [one, withExponent(65536n, 'even'), rocaJwk('roca'), offCurveJwk('curve'), good.jwk] };
    server = http.createServer((_req, res) => {
      fetches++;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(doc));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    gw = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            plugins: [{ use: 'jwt', options: { jwks_url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json` } }],
          },
        },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'name' },
    });
  });
  after(async () => {
    await gw?.close();
    server?.close();
  });

  it('skips each weak key, counting it, and keeps the others', async () => {
    assert.equal((await get(gw.url('/'), bearer(await sign(good)))).status, 200);
    const forged = await get(gw.url('/'), bearer(forgeForExponentOne(one, { role: 'admin' })));
    assert.equal(forged.status, 401, 'a token forged for the e = 1 key');
    assert.match(String(forged.headers['www-authenticate']), /error_description="unknown key"/);
    assert.equal(fetches, 1);
    const skipped = gw.metrics().find((m) => m.name === 'jwt_jwks_keys_skipped_total');
    assert.equal(
      skipped?.values.reduce((sum, v) => sum + ('value' in v ? v.value : 0), 0),
      4,
    );
  });

  it('`tapgate check` names each key the JWKS has that would be left out, and stays valid', async () => {
    const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/jwks.json`;
    const config = {
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'jwt', options: { jwks_url: url } }] } },
      backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:1' }] } },
    };
    const before = fetches;
    const checked = await checkTestConfig({ config, probe: true });
    assert.equal(checked.ok, true);
    const left = checked.problems.filter((p) => p.path === 'frontends.web.plugins[0].options.jwks_url');
    assert.equal(left.length, 4, JSON.stringify(left.map((p) => p.text)));
    assert.ok(left.every((p) => p.severity === 'warning' && p.message.includes('will be left out')));
    assert.equal(fetches, before + 1, 'the check fetched the document once');
  });
});
