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
  /** Ends the exchange with its reason. */
  ending?: Ending;
}

/**
 * What may end an exchange early (its time is up, its caller gave up): its reason once it
 * has, and a way to hear of it. Lighter than an AbortSignal, which costs an EventTarget
 * per request on paths that make one per client request (auth-request).
 */
export interface Ending {
  readonly reason: Error | undefined;
  /** Calls `fn` once it ends (at once if it has); returns what stops listening. */
  listen(fn: (reason: Error) => void): () => void;
}

/** An AbortSignal as an Ending. */
export function endingOf(signal: AbortSignal): Ending {
  return {
    get reason() {
      return signal.aborted ? (signal.reason as Error) : undefined;
    },
    listen(fn) {
      const onAbort = () => fn(signal.reason as Error);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      return () => signal.removeEventListener('abort', onAbort);
    },
  };
}

/** Rejects with the pool's error (its `code` says connect failure, timeout, broken exchange) or the ending's reason. */
export function bufferedRequest(pool: UpstreamPool, options: DispatchOptions, limits: BufferLimits): Promise<BufferedAnswer> {
  return new Promise((resolve, reject) => {
    const { ending, maxBody, overflow } = limits;
    if (ending?.reason) return reject(ending.reason);
    let controller: Dispatcher.DispatchController | undefined;
    let status = 0;
    let headers: Record<string, string | string[]> = {};
    const chunks: Buffer[] = [];
    let size = 0;
    let dropped = false;
    let settled = false;
    const stopListening = ending?.listen((reason) => controller?.abort(reason));
    const settle = (err?: unknown) => {
      if (settled) return;
      settled = true;
      stopListening?.();
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
