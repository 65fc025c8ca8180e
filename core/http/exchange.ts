// What the request lifecycle (core/http/proxy.ts) needs from whatever carried a request to
// the gateway: an HTTP/1.x connection on raw sockets (core/http/h1/) or an HTTP/2 stream. A
// server side implements these two shapes; the lifecycle, the hooks and every plugin stay
// the same whichever it is.
import type { Readable } from 'node:stream';
import type { HttpHeaders, TlsInfo } from '../../sdk/context.ts';

export interface Peer {
  readonly address: string;
  readonly port: number;
}

/** One request as the client sent it, its head parsed and checked by the protocol's parser. */
export interface ClientRequest {
  readonly method: string;
  /** The request target: path and query (origin form). */
  readonly url: string;
  /** `1.0`, `1.1` or `2.0`. */
  readonly httpVersion: string;
  /** Lower-case names; repeated headers joined with ", " (set-cookie stays a list); never pseudo-headers. */
  readonly headers: HttpHeaders;
  /** How many Host headers the request carried (HTTP/2: 1 when it had `:authority` or `host`). */
  readonly hosts: number;
  readonly client: Peer;
  readonly local: Peer;
  readonly tls: TlsInfo | undefined;
  /** The body as it arrives, or null when the request announced none. */
  readonly body: Readable | null;
  /** Arms (`ms` > 0) or clears (0) an idle timer on the client's side, for the body phase. */
  setTimeout(ms: number, onTimeout?: () => void): void;
}

/**
 * The answer to one request, in the words of node:http's ServerResponse (the subset the
 * lifecycle uses), as the HTTP/1.x (core/http/h1/response.ts) and HTTP/2 server sides implement it.
 */
export interface ClientResponse {
  readonly headersSent: boolean;
  readonly destroyed: boolean;
  /** The whole answer was handed to the connection. */
  readonly writableFinished: boolean;
  /** The last `write` returned false and no 'drain' came yet. */
  readonly writableNeedDrain: boolean;
  /** False: the connection closes after this answer (HTTP/1.x). */
  shouldKeepAlive: boolean;
  writeHead(status: number, headers: Record<string, string | string[]>): unknown;
  /**
   * An interim (1xx) response before the final one: `103 Early Hints`, a server's own
   * `100 Continue`. Sent only while no final head was, and only to clients that can take
   * one (HTTP/1.1 and HTTP/2; never HTTP/1.0); otherwise dropped.
   */
  writeInformational(status: number, headers: Record<string, string | string[]>): void;
  /** `written`, when given: called once the chunk's bytes are no longer needed (sent); never, if they could not be. */
  write(chunk: Uint8Array | string, written?: () => void): boolean;
  end(chunk?: Uint8Array | string): unknown;
  /** Trailer fields sent after the body (HTTP/2; chunked HTTP/1.1). */
  addTrailers?(headers: Record<string, string | string[]>): void;
  destroy(error?: Error): unknown;
  /** 'close': the answer is done or the connection is gone (once, always); 'drain': writable again. */
  once(event: 'close' | 'drain', listener: () => void): unknown;
}

/** Streams `body` into `res` with back-pressure; counts what was written. */
export function pump(body: Readable, res: ClientResponse, counted: (bytes: number) => void): void {
  const resume = () => body.resume();
  body.on('data', (chunk: Buffer) => {
    counted(chunk.length);
    if (!res.write(chunk)) {
      body.pause();
      res.once('drain', resume);
    }
  });
  body.once('end', () => res.end());
  body.once('error', () => res.destroy());
  res.once('close', () => {
    if (!body.readableEnded) body.destroy();
  });
}

/** A write's callback calling `written` once the bytes went out (not when they failed: then nothing more is promised; see ClientResponse.write). */
export const whenWritten =
  (written: () => void) =>
  (err?: Error | null): void => {
    if (!err) written();
  };
