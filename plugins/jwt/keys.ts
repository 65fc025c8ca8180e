// The keys a token may be verified with: local ones (PEM files, JWK, JWKS files or
// inline JWKs) read once in setup, and a remote JWKS fetched (api.fetch), kept, refreshed
// when old, and fetched again (at most once per cooldown) when a token names a key it
// does not hold: a new signing key is picked up without a reload, and one removed from
// the document stops verifying after the next fetch. A key is found by its `kid` in a
// map, never by anything built from the token (no path, no URL: `jku`, `x5u` and an
// embedded `jwk` are never looked at). Symmetric keys never come from a key set.
//
// Weak keys are refused where they enter (a configured key is a setup error, so a
// `check` problem; a key in a fetched document is skipped with a warning): RSA moduli
// under 2048 bits or with the ROCA fingerprint (CVE-2017-15361), public exponents that
// are even or below 65537; EC points off their curve are refused by Node itself.
import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Logger, PluginApi } from '../../sdk/index.ts';

export const rsaAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
export const asymmetricAlgorithms = [...rsaAlgorithms, 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'] as const;
export const hmacAlgorithms = ['HS256', 'HS384', 'HS512'] as const;

/** The algorithms a public key can verify, by its type (and curve). */
const algorithmsByType: Record<string, readonly string[]> = {
  rsa: rsaAlgorithms,
  'rsa-pss': ['PS256', 'PS384', 'PS512'],
  'ec:prime256v1': ['ES256'],
  'ec:secp384r1': ['ES384'],
  'ec:secp521r1': ['ES512'],
  ed25519: ['EdDSA', 'Ed25519'],
};

/** A public key and what it may verify. */
export interface VerificationKey {
  readonly kid: string | undefined;
  readonly key: KeyObject;
  readonly algorithms: ReadonlySet<string>;
}

/** A key as the config names it: a file (PEM, JWK or JWKS; `kid` and `alg` for a PEM), or an inline JWK. */
export type KeySource = { file: string; kid?: string; alg?: string } | { jwk: Record<string, unknown> };

const typeOf = (key: KeyObject) => (key.asymmetricKeyType === 'ec' ? `ec:${key.asymmetricKeyDetails?.namedCurve}` : String(key.asymmetricKeyType));

/**
 * ROCA (Nemec et al., CCS 2017; the authors' `roca-detect`): the primes of a vulnerable
 * key are 65537^a mod M plus a multiple of M, M the product of the primes below, so the
 * modulus mod each of these primes lies in the subgroup 65537 generates mod that prime.
 * Each entry is that subgroup as a bit mask (bit r set: residue r is in it).
 */
const rocaPrimes = [
  3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163,
  167,
];
const rocaMasks = rocaPrimes.map((p) => {
  let mask = 0n;
  for (let r = 1, g = 65537 % p; !(mask & (1n << BigInt(r))); r = (r * g) % p) mask |= 1n << BigInt(r);
  return mask;
});

/** The modulus has the ROCA fingerprint (a random modulus has it with a probability near 2^-154). */
export function hasRocaFingerprint(n: bigint): boolean {
  return rocaPrimes.every((p, i) => (rocaMasks[i]! >> (n % BigInt(p))) & 1n);
}

/** Why an RSA public key is too weak to trust, or undefined (NIST SP 800-56B, 800-89). */
function rsaWeakness(key: KeyObject): string | undefined {
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (bits < 2048) return `an RSA key of ${bits} bits is too short: 2048 at least`;
  const e = key.asymmetricKeyDetails?.publicExponent ?? 0n;
  if (e % 2n === 0n || e < 65537n) return `an RSA public exponent of ${e} is weak: expected an odd exponent of 65537 at least`;
  const n = BigInt(`0x${Buffer.from((key.export({ format: 'jwk' }) as { n: string }).n, 'base64url').toString('hex')}`);
  if (hasRocaFingerprint(n)) return 'the RSA modulus has the ROCA fingerprint (CVE-2017-15361): its private key can be computed';
  return undefined;
}

/** The key with its algorithms, or why it cannot verify anything we allow. */
function verificationKey(key: KeyObject, kid: string | undefined, alg: string | undefined): VerificationKey {
  if (key.asymmetricKeyType === 'rsa' || key.asymmetricKeyType === 'rsa-pss') {
    const weakness = rsaWeakness(key);
    if (weakness) throw new Error(weakness);
  }
  const possible = algorithmsByType[typeOf(key)];
  if (!possible) throw new Error(`a ${typeOf(key).replace(':', ' key on ')} key cannot verify JWTs: expected RSA, EC (P-256, P-384, P-521) or Ed25519`);
  if (alg !== undefined && !possible.includes(alg))
    throw new Error(`its alg "${alg}" does not fit a ${typeOf(key)} key: expected one of ${possible.join(', ')}`);
  return { kid, key, algorithms: new Set(alg === undefined ? possible : [alg]) };
}

/**
 * A JWK, or undefined for one that is not ours to use: a symmetric key (a key set never
 * carries HMAC secrets), or one meant for encryption.
 */
function fromJwk(jwk: Record<string, unknown>): VerificationKey | undefined {
  if (jwk.kty === 'oct') return undefined;
  if (jwk.use !== undefined && jwk.use !== 'sig') return undefined;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return undefined;
  if (jwk.kid !== undefined && typeof jwk.kid !== 'string') throw new Error('a JWK\'s "kid" must be a string');
  if (jwk.alg !== undefined && typeof jwk.alg !== 'string') throw new Error('a JWK\'s "alg" must be a string');
  // Only the public members: a private JWK given by mistake still yields its public key.
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, oth: _oth, ...pub } = jwk;
  let key: KeyObject;
  try {
    key = createPublicKey({ key: pub as never, format: 'jwk' });
  } catch (err) {
    // Node checks an EC point against its curve here: one off the curve is refused.
    if (jwk.kty === 'EC') throw new Error('not a valid EC public key (a point on its curve)');
    throw err;
  }
  return verificationKey(key, jwk.kid as string | undefined, jwk.alg as string | undefined);
}

/**
 * A JWKS document's usable keys. Without `skip` a key that cannot be used is an error;
 * with it (a fetched document) that key is left out and `skip` told why.
 */
export function fromJwks(doc: unknown, skip?: (why: string) => void): VerificationKey[] {
  if (typeof doc !== 'object' || doc === null || !Array.isArray((doc as { keys?: unknown }).keys)) throw new Error('expected a JWKS: { "keys": [ ... ] }');
  const out: VerificationKey[] = [];
  for (const [i, jwk] of (doc as { keys: unknown[] }).keys.entries()) {
    if (typeof jwk !== 'object' || jwk === null) throw new Error(`keys[${i}]: expected a JWK object`);
    try {
      const key = fromJwk(jwk as Record<string, unknown>);
      if (key) out.push(key);
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why = `keys[${i}]${typeof (jwk as { kid?: unknown }).kid === 'string' ? ` (kid "${(jwk as { kid: string }).kid}")` : ''}: ${e.code?.startsWith('ERR_') ? 'not a usable public key' : e.message}`;
      if (!skip) throw new Error(why);
      skip(why);
    }
  }
  return out;
}

/** Reads the configured local keys; errors say which entry and file, never the key's bytes. */
export function loadLocalKeys(sources: readonly KeySource[], dir: string): VerificationKey[] {
  const out: VerificationKey[] = [];
  sources.forEach((source, i) => {
    const where = 'file' in source ? `keys[${i}] (${source.file})` : `keys[${i}]`;
    try {
      if ('jwk' in source) {
        const key = fromJwk(source.jwk);
        if (!key) throw new Error('a symmetric or encryption JWK cannot be a verification key (use `secret` for HS256)');
        out.push(key);
        return;
      }
      const text = readFileSync(resolve(dir, source.file), 'utf8');
      if (text.includes('-----BEGIN')) {
        if (/-----BEGIN [A-Z ]*PRIVATE KEY-----/.test(text)) throw new Error('holds a private key: give the gateway the public key (or certificate) only');
        out.push(verificationKey(createPublicKey(text), source.kid, source.alg));
        return;
      }
      let doc: unknown;
      try {
        doc = JSON.parse(text);
      } catch {
        throw new Error('expected a PEM public key or certificate, a JWK or a JWKS (JSON)');
      }
      if (typeof doc === 'object' && doc !== null && 'keys' in doc) out.push(...fromJwks(doc));
      else {
        const key = fromJwk(doc as Record<string, unknown>);
        if (!key) throw new Error('a symmetric or encryption JWK cannot be a verification key (use `secret` for HS256)');
        out.push(source.kid !== undefined ? { ...key, kid: source.kid } : key);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      const why =
        e.code === 'ENOENT' ? 'no such file' : e.code === 'EACCES' ? 'permission denied' : e.code?.startsWith('ERR_') ? 'not a usable public key' : e.message;
      throw new Error(`${where}: ${why}`);
    }
  });
  return out;
}

export interface RemoteOptions {
  url: string;
  /** A document older than this is fetched again (in the background: the old keys serve meanwhile). */
  maxAge: number;
  /** Fetches happen at most this often, whatever tokens ask for; also the longest wait between tries before the first document. */
  cooldown: number;
  timeout: number;
  now: () => number;
  log: Logger;
  /** The plugin's `api.fetch`: `url` is named in its options, so it may be fetched. */
  fetch: PluginApi['fetch'];
  /** Told of each key of a fetched document that is left out (weak, or not usable). */
  skipped: () => void;
}

/** Bytes of a JWKS document read at most. */
const maxDocument = 512 * 1024;
/** The first wait before trying again when no document was ever fetched; it doubles up to the cooldown. */
const firstRetry = 500;

/** The usable keys of the JWKS document at `o.url`, each key left out told to `skip`; rejects when there is no document. */
export async function fetchJwks(
  o: Pick<RemoteOptions, 'url' | 'timeout' | 'fetch'>,
  signal: AbortSignal | undefined,
  skip: (why: string) => void,
): Promise<VerificationKey[]> {
  const res = await o.fetch({
    url: o.url,
    headers: { accept: 'application/jwk-set+json, application/json' },
    timeout: o.timeout,
    signal,
    maxBody: maxDocument,
  });
  // A redirect is not followed: an answer like any other that is not the document.
  if (res.status < 200 || res.status > 299) throw new Error(`HTTP ${res.status}`);
  return fromJwks(res.json(), skip);
}

export class RemoteJwks {
  #keys: readonly VerificationKey[] = [];
  #fetchedAt = -Infinity;
  #triedAt = -Infinity;
  #fetching: Promise<void> | undefined;
  #closed = new AbortController();
  /** Until a first document: the next try, its time (ms, wall clock), and the wait after it. */
  #retry: NodeJS.Timeout | undefined;
  #retryAt = 0;
  #retryDelay = firstRetry;

  constructor(readonly o: RemoteOptions) {}

  /** A document was fetched: until then a token needing its keys cannot be judged either way. */
  get known(): boolean {
    return this.#fetchedAt !== -Infinity;
  }

  /** Seconds until the next try while no document is known (1 at least). */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.#retryAt - Date.now()) / 1000));
  }

  /** The keys held now; an old document starts a refresh in the background. */
  keys(): readonly VerificationKey[] {
    if (this.o.now() - this.#fetchedAt >= this.o.maxAge) void this.refresh();
    return this.#keys;
  }

  /** Fetches the document unless one was fetched or tried within the cooldown; concurrent callers share one fetch. */
  refresh(): Promise<void> {
    if (this.#fetching) return this.#fetching;
    if (this.o.now() - this.#triedAt < this.o.cooldown) return Promise.resolve();
    this.#triedAt = this.o.now();
    this.#fetching = this.#fetch().finally(() => (this.#fetching = undefined));
    return this.#fetching;
  }

  close(): void {
    this.#closed.abort();
    clearTimeout(this.#retry);
  }

  async #fetch(): Promise<void> {
    try {
      const keys = await fetchJwks(this.o, this.#closed.signal, (why) => {
        this.o.skipped();
        this.o.log.warn({ url: this.o.url, reason: why }, 'JWKS key skipped');
      });
      this.#keys = keys;
      this.#fetchedAt = this.o.now();
      this.o.log.debug({ url: this.o.url, keys: keys.length }, 'JWKS fetched');
    } catch (err) {
      if (this.#closed.signal.aborted) return;
      // The keys held so far keep serving; with none yet, try again soon rather than after the cooldown.
      this.o.log.warn({ url: this.o.url, reason: (err as Error).message }, 'JWKS fetch failed');
      if (!this.known) this.#retrySoon();
    }
  }

  #retrySoon(): void {
    if (this.#retry) return;
    const delay = Math.min(this.#retryDelay, this.o.cooldown);
    this.#retryDelay = delay * 2;
    this.#retryAt = Date.now() + delay;
    this.#retry = setTimeout(() => {
      this.#retry = undefined;
      this.#triedAt = -Infinity;
      void this.refresh();
    }, delay);
    this.#retry.unref();
  }
}

/** Candidates for a token's `kid` and `alg`: local keys, then remote ones, a refetch when the kid is unknown. */
export class KeySet {
  readonly #local: readonly VerificationKey[];

  constructor(
    local: readonly VerificationKey[],
    readonly remote: RemoteJwks | undefined,
  ) {
    this.#local = local;
  }

  /** Keys that may have signed a token with this header: its kid's (a key without kid when none has it), able to verify `alg`. */
  async candidates(kid: string | undefined, alg: string): Promise<VerificationKey[]> {
    const found = this.#pick(kid, alg);
    const missing = kid !== undefined ? found.exact === 0 : found.keys.length === 0;
    if (this.remote && missing) {
      // A kid nobody holds (or no key yet): the issuer may have rotated. Fetch again, at most once per cooldown.
      await this.remote.refresh();
      return this.#pick(kid, alg).keys;
    }
    return found.keys;
  }

  /** `key` is still in the set (without fetching): what verified a token under its kid and alg still does. */
  holds(key: KeyObject): boolean {
    return this.#local.some((k) => k.key === key) || (this.remote?.keys().some((k) => k.key === key) ?? false);
  }

  #pick(kid: string | undefined, alg: string): { keys: VerificationKey[]; exact: number } {
    const all = this.remote ? [...this.#local, ...this.remote.keys()] : this.#local;
    if (kid === undefined) return { keys: all.filter((k) => k.algorithms.has(alg)), exact: 1 };
    const exact = all.filter((k) => k.kid === kid);
    const keys = (exact.length ? exact : all.filter((k) => k.kid === undefined)).filter((k) => k.algorithms.has(alg));
    return { keys, exact: exact.length };
  }
}
