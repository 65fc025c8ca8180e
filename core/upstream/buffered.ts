// One request on an upstream pool with its whole answer read into memory, bounded in size:
// what the gateway's own requests need (plugins' `api.fetch`, health checks), where
// proxied traffic streams. It drives the pools' handler contract (undici's Dispatcher),
// as core/http/proxy.ts does, so HTTP/1.1 and HTTP/2 pools serve it alike.
import type { Dispatcher } from 'undici';
import type { DispatchOptions, UpstreamPool } from './h1-pool.ts';

export interface BufferedAnswer {
  status: number;
  /** Lower-case names; repeated fields joined (set-cookie a list). */
  headers: Record<string, string | string[]>;
  body: Buffer;
}

export interface BufferLimits {
  /** Bytes of body kept at most. */
  maxBody: number;
  /**
   * Past `maxBody`: `fail` (an error coded `BODY_TOO_LARGE`), `truncate` (the first
   * `maxBody` bytes are the answer and the exchange ends there), or `drop` (the body is
   * read to its end and none of it kept).
   */
  overflow: 'fail' | 'truncate' | 'drop';
  /** Ends the exchange with the signal's reason. */
  signal?: AbortSignal;
}

/** Rejects with the pool's error (its `code` says connect failure, timeout, broken exchange) or the signal's reason. */
export function bufferedRequest(pool: UpstreamPool, options: DispatchOptions, limits: BufferLimits): Promise<BufferedAnswer> {
  return new Promise((resolve, reject) => {
    const { signal, maxBody, overflow } = limits;
    if (signal?.aborted) return reject(signal.reason);
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let dropped = false;
    let settled = false;
    const onAbort = () => controller?.abort(signal!.reason);
    signal?.addEventListener('abort', onAbort, { once: true });
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', onAbort);
      if (err !== undefined) reject(err);
      else resolve({ status, headers, body: Buffer.concat(chunks, size) });
    };
    pool.dispatch(options, {
      onRequestStart(c) {
        controller = c;
      },
      onResponseStart(_c, s, h) {
        if (s < 200) return; // 100 Continue, 103
        status = s;
        headers = {};
        // A pool leaves fields it dropped as undefined.
        for (const name in h) if (h[name] !== undefined) headers[name] = h[name]!;
      },
      onResponseData(c, chunk) {
        if (dropped) return;
        if (size + chunk.length <= maxBody) {
          chunks.push(chunk);
          size += chunk.length;
          return;
        }
        if (overflow === 'drop') {
          dropped = true;
          chunks.length = 0;
          size = 0;
          return;
        }
        if (overflow === 'fail') return c.abort(Object.assign(new Error(`response body larger than ${maxBody} bytes`), { code: 'BODY_TOO_LARGE' }));
        chunks.push(chunk.subarray(0, maxBody - size));
        size = maxBody;
        settle();
        c.abort(new Error('read enough of the body'));
      },
      onResponseEnd() {
        settle();
      },
      onResponseError(_c, err) {
        settle(err);
      },
    });
  });
}
