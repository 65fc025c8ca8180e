// One token in, claims or a refusal out. Cheap checks first (size, shape, header, alg
// allow-list, kid), then jose verifies the signature with a key we chose (never one
// the token points to) and the time and issuer claims; then required claims and rules.
// A refusal's description is one of a few fixed phrases: jose's messages and key
// material never reach the client.
import { createSecretKey, type KeyObject } from 'node:crypto';
import { decodeProtectedHeader, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { LRUCache } from 'lru-cache';
import type { Claims, ClaimTest } from './claims.ts';
import type { KeySet } from './keys.ts';

export type Outcome =
  { ok: true; claims: JWTPayload } | { ok: false; status: 401 | 403; error: 'invalid_token' | 'insufficient_scope'; description: string; reason?: string };

export interface VerifierOptions {
  keys: KeySet;
  /** HS256/384/512 secret, when configured: the only key HMAC tokens are checked with. */
  secret: KeyObject | undefined;
  algorithms: ReadonlySet<string>;
  maxSize: number;
  clockSkewSeconds: number;
  issuer?: string | string[];
  audience?: string | string[];
  typ?: string;
  requireExp: boolean;
  required: readonly string[];
  rules?: { test: ClaimTest; failing(claims: Claims): string | undefined };
  now: () => number;
  /** Tokens remembered once verified (0: none): a client sending the same token again costs no signature check. */
  cacheSize?: number;
}

/** A token that passed: what it said, and the key that verified it (which must still be held for the token to pass again). */
interface Verified {
  /** The answer given again while the token stays good. */
  outcome: Outcome & { ok: true };
  claims: JWTPayload;
  key: KeyObject;
  alg: string;
}

/** header.payload.signature, base64url each (an empty signature gets past this and fails below). */
const compactJws = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Longer kids are not looked up (nor fetched for). */
const maxKid = 256;
/** Keys tried for one token without a kid at most. */
const maxTries = 8;

const invalid = (description: string, reason?: string): Outcome => ({ ok: false, status: 401, error: 'invalid_token', description, reason });
const insufficient = (description: string): Outcome => ({ ok: false, status: 403, error: 'insufficient_scope', description });

/** A name fit for a quoted-string (error_description): no quotes, backslashes or controls. */
const quotable = (name: string) => name.replace(/["\\\x00-\x1f\x7f]/g, '');

export const secretKey = (secret: Buffer): KeyObject => createSecretKey(secret);

/** The outcome for a token: at once (no promise) for a remembered token still good, or one too large. */
export function createVerifier(o: VerifierOptions): (token: string) => Outcome | Promise<Outcome> {
  const requiredClaims = o.requireExp ? ['exp'] : [];
  const verified = o.cacheSize === 0 ? undefined : new LRUCache<string, Verified>({ max: o.cacheSize ?? 10_000 });
  const verify = async (token: string): Promise<Outcome> => {
    if (!compactJws.test(token)) return invalid('malformed token');
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      return invalid('malformed token');
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || !o.algorithms.has(alg)) return invalid('algorithm not allowed', `alg ${String(alg)}`);
    const kid = header.kid;
    if (kid !== undefined && (typeof kid !== 'string' || kid.length > maxKid)) return invalid('unknown key', 'unusable kid');

    let keys: KeyObject[];
    if (alg.startsWith('HS')) keys = o.secret ? [o.secret] : [];
    else keys = (await o.keys.candidates(kid, alg)).slice(0, maxTries).map((k) => k.key);
    if (keys.length === 0) return invalid('unknown key', kid === undefined ? 'no key for the algorithm' : 'kid not in the key set');

    const options: JWTVerifyOptions = {
      algorithms: [alg],
      issuer: o.issuer,
      audience: o.audience,
      typ: o.typ,
      clockTolerance: o.clockSkewSeconds,
      currentDate: new Date(o.now()),
      requiredClaims,
    };
    let payload: JWTPayload | undefined;
    let signer: KeyObject | undefined;
    let failure: Outcome = invalid('invalid signature');
    for (const key of keys) {
      try {
        payload = (await jwtVerify(token, key, options)).payload;
        signer = key;
        break;
      } catch (err) {
        failure = refusal(err);
        // Another key of the set may have signed it; any other failure is final.
        if (!(err instanceof errors.JWSSignatureVerificationFailed)) return failure;
      }
    }
    if (!payload) return failure;

    for (const name of o.required) if (payload[name] === undefined || payload[name] === null) return insufficient(`missing claim ${quotable(name)}`);
    const failing = o.rules?.failing(payload);
    if (failing !== undefined) return insufficient(`claim ${quotable(failing)} does not allow this request`);
    const claims = deepFreeze(payload);
    const outcome = { ok: true as const, claims };
    verified?.set(token, { outcome, claims, key: signer!, alg });
    return outcome;
  };
  // The last token decided from memory, kept beside the LRU: a keep-alive client sends
  // the same one request after request, and comparing it costs less than hashing it.
  let lastToken: string | undefined;
  let lastSeen: Verified | undefined;
  return (token) => {
    if (token.length > o.maxSize) return invalid('token too large');
    const seen = token === lastToken ? lastSeen : verified?.get(token);
    if (seen) {
      // Same bytes, same signature, issuer, audience and rules: only time and the key's presence can have changed.
      if (stillGood(seen, o)) {
        lastToken = token;
        lastSeen = seen;
        return seen.outcome;
      }
      verified!.delete(token);
      lastToken = lastSeen = undefined;
    }
    return verify(token);
  };
}

/** A remembered token is still valid now: within exp and nbf (with the skew), and its key still held. */
function stillGood(v: Verified, o: VerifierOptions): boolean {
  const now = o.now() / 1000;
  const { exp, nbf } = v.claims;
  if (typeof exp === 'number' && exp <= now - o.clockSkewSeconds) return false;
  if (typeof nbf === 'number' && nbf > now + o.clockSkewSeconds) return false;
  if (v.alg.startsWith('HS')) return v.key === o.secret;
  // Still held (a key gone from the set fails it; the full check then fetches the set again when the kid is unknown).
  return o.keys.holds(v.key);
}

/** Claims shared by every request that presents the token: nobody may change them. */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** jose's error, as one of our fixed descriptions (its message kept for the debug log only). */
function refusal(err: unknown): Outcome {
  const reason = (err as Error).message;
  if (err instanceof errors.JWTExpired) return invalid('token expired', reason);
  if (err instanceof errors.JWTClaimValidationFailed) {
    const byClaim: Record<string, string> = {
      nbf: 'token not yet valid',
      iss: 'wrong issuer',
      aud: 'wrong audience',
      exp: 'token has no valid expiry',
      iat: 'invalid issue time',
      typ: 'wrong token type',
    };
    return invalid(byClaim[err.claim] ?? 'invalid claims', reason);
  }
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalid('invalid signature', reason);
  if (err instanceof errors.JOSEAlgNotAllowed || err instanceof errors.JOSENotSupported) return invalid('algorithm not allowed', reason);
  if (err instanceof errors.JWSInvalid || err instanceof errors.JWTInvalid) return invalid('malformed token', reason);
  return invalid('invalid token', reason);
}
