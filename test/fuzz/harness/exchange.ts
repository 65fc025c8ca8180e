// A fuzz case on the wire: raw bytes to a gateway over a real loopback connection (plain
// or TLS), everything it answers collected, and HTTP/1 responses read back out of it.
import net from 'node:net';
import tls from 'node:tls';

export interface Target {
  port: number;
  /** TLS to the frontend (any certificate), with this ALPN list. */
  tls?: { alpn: string[] };
}

export interface Exchanged {
  /** Everything the gateway sent. */
  received: Buffer;
  /** The gateway closed the connection (or reset it) before we gave up. */
  closed: boolean;
  /** We stopped waiting: nothing came for `quietMs` while holding, or `maxMs` passed. */
  gaveUp?: string;
  ms: number;
}

export interface ExchangeOptions {
  /** `end`: half-close after the last write; `hold`: stay open. */
  finish: 'end' | 'hold';
  /** Holding: stop once this says the answers are all in (`received` so far). */
  enough?: (received: Buffer) => boolean;
  /** Holding: stop after this long without a byte (given what came so far). */
  quietMs: number | ((received: Buffer) => number);
  /** Stop after this long whatever happens. */
  maxMs: number;
}

export function connect(target: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket: net.Socket = target.tls
      ? tls.connect({ port: target.port, host: '127.0.0.1', rejectUnauthorized: false, ALPNProtocols: target.tls.alpn, servername: 'localhost' }, () =>
          resolve(socket),
        )
      : net.connect({ port: target.port, host: '127.0.0.1', allowHalfOpen: true }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Sends `parts` (one write each), finishes as asked, and collects what comes back until the rules above end it. */
export async function exchange(target: Target, parts: Buffer[], options: ExchangeOptions): Promise<Exchanged> {
  const started = performance.now();
  const socket = await connect(target);
  socket.setNoDelay(true);
  const chunks: Buffer[] = [];
  let closed = false;
  let lastByte = performance.now();
  const done = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      lastByte = performance.now();
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      closed = true;
      resolve();
    });
  });
  for (const part of parts) {
    if (closed || socket.destroyed) break;
    if (part.length === 0) continue;
    await new Promise<void>((resolve) => socket.write(part, () => resolve()));
  }
  if (options.finish === 'end' && !socket.destroyed) socket.end();
  let gaveUp: string | undefined;
  // Bounded: every turn waits for the close, a byte, or a timer well under maxMs.
  while (!closed) {
    const now = performance.now();
    const received = Buffer.concat(chunks);
    const quietMs = typeof options.quietMs === 'number' ? options.quietMs : options.quietMs(received);
    if (options.finish === 'hold' && options.enough?.(received)) break;
    if (now - started >= options.maxMs) {
      gaveUp = `still open after ${options.maxMs} ms`;
      break;
    }
    if (options.finish === 'hold' && now - lastByte >= quietMs) {
      gaveUp = `nothing for ${quietMs} ms`;
      break;
    }
    const wait = Math.max(5, Math.min(options.maxMs - (now - started), options.finish === 'hold' ? quietMs - (now - lastByte) : options.maxMs));
    await Promise.race([done, new Promise((r) => setTimeout(r, Math.min(wait, 100)))]);
  }
  socket.destroy();
  return { received: Buffer.concat(chunks), closed, gaveUp, ms: Math.round(performance.now() - started) };
}

export interface ParsedResponse {
  status: number;
  head: string;
}

export interface ParsedResponses {
  responses: ParsedResponse[];
  /** The last response is whole (its body ended) or is a 101 (a tunnel follows). */
  lastWhole: boolean;
  /** Bytes that are not an HTTP/1 response where one should start. */
  garbage?: string;
}

/**
 * Reads HTTP/1 responses back to back out of `data`; `heads[i]` says whether the i-th final
 * response answers a HEAD (no body whatever its head says). Stops at a 101 (the rest is the
 * upgraded protocol's) and at anything that is not a response.
 */
export function parseResponses(data: Buffer, heads: boolean[] = []): ParsedResponses {
  const text = data.toString('latin1');
  const responses: ParsedResponse[] = [];
  let at = 0;
  let finals = 0;
  while (at < text.length) {
    const end = text.indexOf('\r\n\r\n', at);
    const line = /^HTTP\/1\.[01] (\d{3})[^\r\n]*\r\n/.exec(text.slice(at, at + 1024));
    if (!line) return { responses, lastWhole: false, garbage: JSON.stringify(text.slice(at, at + 80)) };
    if (end === -1) return { responses, lastWhole: false };
    const head = text.slice(at, end + 4);
    const status = Number(line[1]);
    responses.push({ status, head });
    at = end + 4;
    if (status === 101) return { responses, lastWhole: true };
    if (status >= 100 && status < 200) continue;
    const isHead = heads[finals++] ?? false;
    if (isHead || status === 204 || status === 304) continue;
    const cl = /\r\ncontent-length:[ \t]*(\d+)[ \t]*\r\n/i.exec(head);
    if (/\r\ntransfer-encoding:[^\r\n]*chunked/i.test(head)) {
      // Chunks: size line, data, CRLF; ends with a zero chunk and its trailers.
      for (;;) {
        const sizeEnd = text.indexOf('\r\n', at);
        if (sizeEnd === -1) return { responses, lastWhole: false };
        const size = parseInt(text.slice(at, sizeEnd), 16);
        if (Number.isNaN(size)) return { responses, lastWhole: false, garbage: JSON.stringify(text.slice(at, at + 80)) };
        if (size === 0) {
          const trailersEnd = text.indexOf('\r\n\r\n', sizeEnd);
          const bare = text.startsWith('\r\n', sizeEnd + 2);
          if (!bare && trailersEnd === -1) return { responses, lastWhole: false };
          at = bare ? sizeEnd + 4 : trailersEnd + 4;
          break;
        }
        at = sizeEnd + 2 + size + 2;
        if (at > text.length) return { responses, lastWhole: false };
      }
    } else if (cl) {
      at += Number(cl[1]);
      if (at > text.length) return { responses, lastWhole: false };
    } else {
      // Delimited by the close: the rest is this body.
      return { responses, lastWhole: true };
    }
  }
  return { responses, lastWhole: true };
}

/** `buf` split where `cuts` (fractions of its length) say: the writes of one case. */
export function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => Math.floor(c * buf.length)))].filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let from = 0;
  for (const p of points) {
    parts.push(buf.subarray(from, p));
    from = p;
  }
  parts.push(buf.subarray(from));
  return parts;
}

/** Bytes as a JS string literal a person can paste into a repro: printable ASCII as is, the rest escaped. */
export function showBytes(buf: Buffer, max = 600): string {
  const s = JSON.stringify(buf.subarray(0, max).toString('latin1'));
  return buf.length > max ? `${s} … (${buf.length} bytes in all)` : s;
}
