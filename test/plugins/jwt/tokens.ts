// Keys and tokens made at test time with jose; requests go through the harness's get().
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  pem: string;
  jwk: JWK;
}

export async function makeKey(alg: 'RS256' | 'ES256' | 'EdDSA', kid: string): Promise<TestKey> {
  const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, use: 'sig' };
  return { alg, kid, privateKey, publicKey, pem: await exportSPKI(publicKey), jwk };
}

export const nowSeconds = () => Math.floor(Date.now() / 1000);

/** A token signed by `key`; `header` adds to (or replaces) the protected header. */
export function sign(key: TestKey, claims: JWTPayload = {}, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ sub: 'alice', iat: nowSeconds(), exp: nowSeconds() + 600, ...claims })
    .setProtectedHeader({ alg: key.alg, kid: key.kid, ...header })
    .sign(key.privateKey);
}

export const b64 = (v: string | object) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

export { get, type TestResponse as Reply } from 'tapgate/sdk/testing';

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
