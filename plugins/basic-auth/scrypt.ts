// Password hashes for basic auth: scrypt from node:crypto (memory-hard, built in, no
// dependency), written `scrypt$N$r$p$salt$hash` with salt and hash in base64. A hash is
// parsed once, in setup; verifying runs scrypt on libuv's thread pool, off the event loop.
import { randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptHash {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  hash: Buffer;
}

const base64 = /^[A-Za-z0-9+/]+={0,2}$/;
/** scrypt needs 128·N·r bytes; beyond this a typo in N would be a way to exhaust memory. */
const maxMemory = 256 * 1024 * 1024;

/** `scrypt$N$r$p$salt$hash`, or a message saying what is wrong. */
export function parseScryptHash(text: string): ScryptHash | string {
  const parts = text.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return 'expected scrypt$N$r$p$salt$hash (salt and hash in base64)';
  const [N, r, p] = parts.slice(1, 4).map((v) => (/^\d+$/.test(v) ? Number(v) : NaN)) as [number, number, number];
  if (!(N >= 1024 && (N & (N - 1)) === 0)) return 'expected N to be a power of two, 1024 or more (16384 is usual)';
  if (!(r >= 1 && r <= 32) || !(p >= 1 && p <= 16)) return 'expected r from 1 to 32 and p from 1 to 16 (8 and 1 are usual)';
  if (128 * N * r > maxMemory) return `expected 128·N·r to stay within ${maxMemory / 1024 / 1024} MiB`;
  const [salt, hash] = parts.slice(4) as [string, string];
  if (!base64.test(salt) || !base64.test(hash)) return 'expected salt and hash in base64';
  const out = { N, r, p, salt: Buffer.from(salt, 'base64'), hash: Buffer.from(hash, 'base64') };
  if (out.salt.length < 16 || out.hash.length < 16) return 'expected a salt and a hash of 16 bytes at least';
  return out;
}

/** Whether `password` hashes to `stored` (compared in constant time). */
export function verifyScrypt(password: string, stored: ScryptHash): Promise<boolean> {
  const { N, r, p, salt, hash } = stored;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, hash.length, { N, r, p, maxmem: 2 * 128 * N * r + 1024 * 1024 }, (err, derived) => {
      if (err) reject(err);
      else resolve(timingSafeEqual(derived, hash));
    });
  });
}

/** A hash of nothing anyone knows, with the same cost as `like`: an unknown user takes as long to refuse as a known one. */
export function decoyHash(like: ScryptHash | undefined): ScryptHash {
  return { N: like?.N ?? 16384, r: like?.r ?? 8, p: like?.p ?? 1, salt: randomBytes(16), hash: randomBytes(like?.hash.length ?? 32) };
}
