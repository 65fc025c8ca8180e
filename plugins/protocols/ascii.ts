// ASCII in a connection's first bytes: the control bytes that end lines, and strings.
// Detectors index the bytes one by one (only the TLS one takes subarrays, to copy the
// fragments of a hello together) and build short names in a loop, cheaper than a
// TextDecoder; the tests can then watch every read for one out of bounds.

export const SP = 0x20;
export const CR = 0x0d;
export const LF = 0x0a;

/** Bytes `from` to `to` as a string, one character per byte. */
export function latin1(b: Uint8Array, from: number, to: number): string {
  let s = '';
  for (let i = from; i < to; i++) s += String.fromCharCode(b[i]!);
  return s;
}

/**
 * A host name (letters, digits, '-', '.', '_') between `from` and `to`, in lower case;
 * undefined when empty, longer than 255 or holding any other byte: a name that cannot
 * be a host is better absent than matched by a rule.
 */
export function hostName(b: Uint8Array, from: number, to: number): string | undefined {
  if (to <= from || to - from > 255) return undefined;
  let s = '';
  for (let i = from; i < to; i++) {
    const c = b[i]!;
    if (c >= 0x41 && c <= 0x5a) s += String.fromCharCode(c | 0x20);
    else if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f) s += String.fromCharCode(c);
    else return undefined;
  }
  return s;
}
