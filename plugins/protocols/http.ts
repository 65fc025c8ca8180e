// HTTP/1.x request line and Host (RFC 9112 §3, §3.2), and the HTTP/2 prior-knowledge
// preface (RFC 9113 §3.4), from a connection's first bytes.
//
// Waiting for Host: a request line alone says "HTTP", but routing by Host needs the head.
// Clients send the whole head at once, so this detector answers 'more' until the head is
// complete (CRLF CRLF) or MAX_HEAD bytes have arrived, and only then the request line's
// facts, with the Host when the head held exactly one valid Host. A client that sends a
// request line and then stalls is left to the caller's inspect_delay.
import type { Detected, Detector } from '../../sdk/index.ts';
import { CR, hostName, latin1, LF, SP } from './ascii.ts';

/** Past this many bytes without the end of the head, the request line is answered alone (or, if incomplete, refused). */
export const MAX_HEAD = 8 * 1024;
/** Longer than any registered method (the longest is 17 bytes). */
const MAX_METHOD = 24;
const PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const VERSION = 'HTTP/1.';
const COLON = 0x3a;

export const detectHttp: Detector = (b) => {
  const n = b.length;
  const preface = matchPreface(b);
  if (preface !== undefined) return preface;

  // Method: capitals, then '-' or '_' allowed (VERSION-CONTROL, some extensions).
  let i = 0;
  while (i < n && i <= MAX_METHOD && (isUpper(b[i]!) || (i > 0 && (b[i] === 0x2d || b[i] === 0x5f)))) i++;
  if (i > MAX_METHOD) return undefined;
  if (i === n) return 'more';
  if (i === 0 || b[i] !== SP) return undefined;
  const methodEnd = i++;

  // Target: visible ASCII (origin-form, absolute-form, authority-form or '*').
  const targetStart = i;
  while (i < n && b[i]! > SP && b[i]! < 0x7f) i++;
  if (i === n) return n < MAX_HEAD ? 'more' : undefined;
  if (i === targetStart || b[i] !== SP) return undefined;
  const targetEnd = i++;

  // "HTTP/1.0" or "HTTP/1.1", then CRLF.
  for (let k = 0; k < VERSION.length; k++, i++) {
    if (i === n) return 'more';
    if (b[i] !== VERSION.charCodeAt(k)) return undefined;
  }
  if (i === n) return 'more';
  const minor = b[i++]! - 0x30;
  if (minor !== 0 && minor !== 1) return undefined;
  if (i === n) return 'more';
  if (b[i++] !== CR) return undefined;
  if (i === n) return 'more';
  if (b[i++] !== LF) return undefined;

  const headEnd = endOfHead(b, i - 2);
  if (headEnd === -1 && n < MAX_HEAD) return 'more';
  // An absolute-form target's authority replaces Host (RFC 9112 §3.2.2), even when it is not a valid host.
  const authority = authorityStart(b, targetStart, targetEnd);
  const host = authority !== -1 ? hostWithoutPort(b, authority, authorityEnd(b, authority, targetEnd)) : headEnd === -1 ? undefined : hostHeader(b, i, headEnd);
  return { protocol: 'http', method: latin1(b, 0, methodEnd), path: latin1(b, targetStart, targetEnd), version: minor === 1 ? 'HTTP/1.1' : 'HTTP/1.0', host };
};

/** 'more' while the bytes are a prefix of the h2 preface, the h2c result once it is whole, undefined when they are something else. */
function matchPreface(b: Uint8Array): Detected | 'more' | undefined {
  const n = Math.min(b.length, PREFACE.length);
  for (let i = 0; i < n; i++) if (b[i] !== PREFACE.charCodeAt(i)) return undefined;
  return n < PREFACE.length ? 'more' : { protocol: 'h2c', version: 'HTTP/2' };
}

/** Where the head's final CRLF CRLF ends, searching from the request line's CRLF at `from`; -1 when not there yet. */
function endOfHead(b: Uint8Array, from: number): number {
  const n = b.length;
  for (let i = from; i + 3 < n; i++) {
    if (b[i] === CR && b[i + 1] === LF && b[i + 2] === CR && b[i + 3] === LF) return i + 4;
  }
  return -1;
}

/** The Host header's host between `from` (the first header line) and `headEnd`; undefined when absent, repeated or invalid. */
function hostHeader(b: Uint8Array, from: number, headEnd: number): string | undefined {
  let found: string | undefined;
  let count = 0;
  for (let line = from; line < headEnd - 2;) {
    let eol = line;
    while (eol + 1 < headEnd && !(b[eol] === CR && b[eol + 1] === LF)) eol++;
    if (
      eol - line >= 5 &&
      lower(b[line]!) === 0x68 &&
      lower(b[line + 1]!) === 0x6f &&
      lower(b[line + 2]!) === 0x73 &&
      lower(b[line + 3]!) === 0x74 &&
      b[line + 4] === COLON
    ) {
      let s = line + 5;
      let e = eol;
      while (s < e && (b[s] === SP || b[s] === 0x09)) s++;
      while (e > s && (b[e - 1] === SP || b[e - 1] === 0x09)) e--;
      found = hostWithoutPort(b, s, e);
      count++;
    }
    line = eol + 2;
  }
  // Several Host headers are a 400 in HTTP mode; here they give no host to route on.
  return count === 1 ? found : undefined;
}

/** Where the authority of an `http://` or `https://` target starts; -1 when the target is not one. */
function authorityStart(b: Uint8Array, from: number, to: number): number {
  if (to - from < 7 || lower(b[from]!) !== 0x68 || lower(b[from + 1]!) !== 0x74 || lower(b[from + 2]!) !== 0x74 || lower(b[from + 3]!) !== 0x70) return -1;
  let i = from + 4;
  if (lower(b[i]!) === 0x73) i++;
  return i + 3 <= to && b[i] === COLON && b[i + 1] === 0x2f && b[i + 2] === 0x2f ? i + 3 : -1;
}

/** Where the authority starting at `from` ends: at the path, query or fragment. */
function authorityEnd(b: Uint8Array, from: number, to: number): number {
  let end = from;
  while (end < to && b[end] !== 0x2f && b[end] !== 0x3f && b[end] !== 0x23) end++;
  return end;
}

/** `host[:port]` or `[v6][:port]` → the host in lower case (brackets kept, as URL's hostname keeps them); undefined when not one. */
function hostWithoutPort(b: Uint8Array, from: number, to: number): string | undefined {
  if (from >= to) return undefined;
  const literal = b[from] === 0x5b;
  let hostEnd = from;
  if (literal) {
    hostEnd++;
    while (hostEnd < to && (isHex(b[hostEnd]!) || b[hostEnd] === COLON || b[hostEnd] === 0x2e)) hostEnd++;
    if (hostEnd === to || b[hostEnd] !== 0x5d || hostEnd - from < 3) return undefined;
    hostEnd++;
  } else {
    while (hostEnd < to && b[hostEnd] !== COLON) hostEnd++;
  }
  if (hostEnd < to && (b[hostEnd] !== COLON || !allDigits(b, hostEnd + 1, to))) return undefined;
  if (!literal) return hostName(b, from, hostEnd);
  let s = '';
  for (let i = from; i < hostEnd; i++) s += String.fromCharCode(lower(b[i]!));
  return s;
}

function allDigits(b: Uint8Array, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (b[i]! < 0x30 || b[i]! > 0x39) return false;
  return true;
}

const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isHex = (c: number) => (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
const lower = (c: number) => (c >= 0x41 && c <= 0x5a ? c | 0x20 : c);
