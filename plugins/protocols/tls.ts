// TLS ClientHello: server name, ALPN and the highest version offered, read without
// terminating TLS, so the connection can pass through untouched (RFC 8446 §4.1.2, §5.1;
// SNI RFC 6066 §3; ALPN RFC 7301 §3.1).
//
// The hello may span several records (a client may fragment it; post-quantum key shares
// make it large). When it sits in the first record, as nearly always, it is parsed in
// place; otherwise its fragments are copied together once they have all arrived.
// Every length is checked against the bytes it claims before anything is read past it:
// malformed, truncated or random bytes give undefined, never an exception.
import type { Detected, Detector } from '../../sdk/index.ts';
import { hostName, latin1 } from './ascii.ts';

const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
/** A plaintext record carries at most 2^14 bytes (RFC 8446 §5.1). */
const MAX_RECORD = 16 * 1024;
/** Larger hellos are not worth waiting for: no client sends one, and the caller buffers what we wait for. */
export const MAX_CLIENT_HELLO = 64 * 1024;
/** client_version, random, session id length, cipher suites (at least one), compression methods (at least one). */
const MIN_CLIENT_HELLO = 2 + 32 + 1 + 2 + 2 + 1 + 1;

const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_SUPPORTED_VERSIONS = 43;

const BAD = -1;
const MORE = -2;

/** Where a hello spread over several records is put together; grows to MAX_CLIENT_HELLO at most. */
let scratch = new Uint8Array(4 * 1024);

/** The fragment length of the record whose header starts at `at`, MORE when the header is cut short, BAD when it is not a handshake record. */
function recordLength(b: Uint8Array, at: number): number {
  const n = b.length;
  if (at < n && b[at] !== HANDSHAKE) return BAD;
  if (at + 1 < n && b[at + 1] !== 3) return BAD;
  if (at + 2 < n && (b[at + 2]! < 1 || b[at + 2]! > 4)) return BAD;
  if (at + 5 > n) return MORE;
  const length = (b[at + 3]! << 8) | b[at + 4]!;
  // Zero-length handshake fragments are forbidden (RFC 8446 §5.1).
  return length === 0 || length > MAX_RECORD ? BAD : length;
}

export const detectTls: Detector = (b) => {
  const n = b.length;
  let at = 0;
  /** Handshake bytes present so far, across records. */
  let got = 0;
  /** Handshake header plus body, once the header has been read. */
  let need = 0;
  let length = 0;
  let records = 0;
  for (;;) {
    const fragment = recordLength(b, at);
    if (fragment === BAD) return undefined;
    if (fragment === MORE) return 'more';
    records++;
    const start = at + 5;
    const end = Math.min(start + fragment, n);
    // The handshake header (type, 24-bit length) and the first byte of client_version,
    // checked as they arrive, so a stream that only starts like TLS is turned down early.
    let i = start;
    for (; i < end && got < 5; i++, got++) {
      const c = b[i]!;
      if (got === 0 && c !== CLIENT_HELLO) return undefined;
      if (got >= 1 && got <= 3) length = (length << 8) | c;
      if (got === 3) {
        if (length < MIN_CLIENT_HELLO || length > MAX_CLIENT_HELLO) return undefined;
        need = 4 + length;
      }
      if (got === 4 && c !== 3) return undefined;
    }
    got += end - i;
    if (need > 0 && got >= need) break;
    at = start + fragment;
    if (at >= n) return 'more';
  }
  if (records === 1) return parseClientHello(b, 9, 5 + need);
  // Several records: copy the fragments together, all present now, into a buffer kept
  // between calls (the result holds only strings, so nothing of it escapes).
  if (scratch.length < need) scratch = new Uint8Array(Math.min(4 + MAX_CLIENT_HELLO, Math.max(need, 2 * scratch.length)));
  const hello = scratch;
  at = 0;
  for (let w = 0; w < need;) {
    const fragment = (b[at + 3]! << 8) | b[at + 4]!;
    const take = Math.min(fragment, need - w);
    hello.set(b.subarray(at + 5, at + 5 + take), w);
    w += take;
    at += 5 + fragment;
  }
  return parseClientHello(hello, 4, need);
};

/** The ClientHello body between `p` and `end` (RFC 8446 §4.1.2), or undefined when malformed. */
function parseClientHello(b: Uint8Array, p: number, end: number): Detected | undefined {
  const clientVersion = (b[p]! << 8) | b[p + 1]!;
  p += 2 + 32;
  const sessionId = b[p]!;
  if (sessionId > 32) return undefined;
  p += 1 + sessionId;
  if (p + 2 > end) return undefined;
  const suites = (b[p]! << 8) | b[p + 1]!;
  if (suites < 2 || suites & 1) return undefined;
  p += 2 + suites;
  if (p + 1 > end) return undefined;
  const compressions = b[p]!;
  if (compressions < 1) return undefined;
  p += 1 + compressions;
  if (p > end) return undefined;

  let sni: string | undefined;
  let alpn: string[] | undefined;
  let best = 0;
  // A hello without extensions (TLS 1.2 and older may send one) ends here.
  if (p < end) {
    if (p + 2 > end || p + 2 + ((b[p]! << 8) | b[p + 1]!) !== end) return undefined;
    p += 2;
    let seen = 0;
    while (p < end) {
      if (p + 4 > end) return undefined;
      const type = (b[p]! << 8) | b[p + 1]!;
      const e = p + 4 + ((b[p + 2]! << 8) | b[p + 3]!);
      if (e > end) return undefined;
      p += 4;
      // An extension type appears at most once (RFC 8446 §4.2); the ones read here are checked.
      const bit = type === EXT_SERVER_NAME ? 1 : type === EXT_ALPN ? 2 : type === EXT_SUPPORTED_VERSIONS ? 4 : 0;
      if (seen & bit) return undefined;
      seen |= bit;
      if (bit === 1) {
        // server_name_list: name_type (0 = host_name), 16-bit length, name; the first host_name counts.
        if (p + 2 > e || p + 2 + ((b[p]! << 8) | b[p + 1]!) !== e) return undefined;
        for (let q = p + 2; q < e;) {
          if (q + 3 > e) return undefined;
          const nameEnd = q + 3 + ((b[q + 1]! << 8) | b[q + 2]!);
          if (nameEnd > e) return undefined;
          if (b[q] === 0 && sni === undefined) sni = hostName(b, q + 3, nameEnd);
          q = nameEnd;
        }
      } else if (bit === 2) {
        // protocol_name_list: non-empty, of non-empty 8-bit-length names.
        if (p + 2 > e || p + 2 + ((b[p]! << 8) | b[p + 1]!) !== e || e - p < 4) return undefined;
        alpn = [];
        for (let q = p + 2; q < e;) {
          const nameEnd = q + 1 + b[q]!;
          if (nameEnd === q + 1 || nameEnd > e) return undefined;
          alpn.push(latin1(b, q + 1, nameEnd));
          q = nameEnd;
        }
      } else if (bit === 4) {
        // versions: an 8-bit length, then 16-bit versions; GREASE and unknown ones are skipped.
        const count = b[p]!;
        if (count < 2 || count & 1 || p + 1 + count !== e) return undefined;
        for (let q = p + 1; q < e; q += 2) {
          const v = (b[q]! << 8) | b[q + 1]!;
          if (v > best && versionName(v) !== undefined) best = v;
        }
      }
      p = e;
    }
  }
  return { protocol: 'tls', sni, alpn, version: versionName(best || clientVersion) };
}

/** As Node's `TLSSocket.getProtocol()` names versions. */
function versionName(v: number): string | undefined {
  switch (v) {
    case 0x0304:
      return 'TLSv1.3';
    case 0x0303:
      return 'TLSv1.2';
    case 0x0302:
      return 'TLSv1.1';
    case 0x0301:
      return 'TLSv1';
    case 0x0300:
      return 'SSLv3';
    default:
      return undefined;
  }
}
