// SSH identification string (RFC 4253 §4.2): `SSH-2.0-software[ SP comments] CR LF`, or
// `SSH-1.99-` from a client that also speaks SSH 1, at most 255 bytes with the CR LF.
// A client sends it before anything else (only servers may send other lines first).
//
// Liberal where real clients are: the software part may hold '-' (JSch sends
// 'SSH-2.0-JSCH-0.1.54'), and a bare LF ends the line, as §4.2 suggests accepting.
import type { Detector } from '../../sdk/index.ts';
import { CR, latin1, LF, SP } from './ascii.ts';

const MAX_LINE = 255;
const V2 = 'SSH-2.0-';
const V1_99 = 'SSH-1.99-';

export const detectSsh: Detector = (b) => {
  const n = b.length;
  // 'SSH-' then '2' or '1' picks which prefix the bytes must follow.
  const prefix = n > 4 && b[4] === 0x31 ? V1_99 : V2;
  for (let i = 0; i < prefix.length; i++) {
    if (i === n) return 'more';
    if (b[i] !== prefix.charCodeAt(i)) return undefined;
  }
  const start = prefix.length;
  let i = start;
  while (i < n && i < MAX_LINE && b[i]! > SP && b[i]! < 0x7f) i++;
  const end = i;
  // Comments: anything but NUL, CR and LF.
  if (i < n && b[i] === SP && i > start) while (++i < n && i < MAX_LINE && b[i] !== 0 && b[i] !== CR && b[i] !== LF);
  if (i >= MAX_LINE) return undefined;
  if (i === n) return 'more';
  if (end === start) return undefined;
  if (b[i] === CR) {
    if (++i === n) return i < MAX_LINE ? 'more' : undefined;
    if (i >= MAX_LINE) return undefined;
  }
  if (b[i] !== LF) return undefined;
  return { protocol: 'ssh', software: latin1(b, start, end), version: prefix === V2 ? 'SSH-2.0' : 'SSH-1.99' };
};
