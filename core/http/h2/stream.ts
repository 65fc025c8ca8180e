// One HTTP/2 stream as the lifecycle's ClientRequest and ClientResponse (core/http/exchange.ts):
// pseudo-headers mapped to what an HTTP/1.1 request says, connection-specific headers kept
// off the wire, both bodies streamed under HTTP/2 flow control, trailers passed.
import http2, { type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { validateHeaderName, validateHeaderValue } from 'node:http';
import { Readable } from 'node:stream';
import type { HttpHeaders, TlsInfo } from '../../../sdk/context.ts';
import { whenWritten, type ClientRequest, type ClientResponse, type Peer } from '../exchange.ts';
import { ClientFault } from '../../termination.ts';
import { hopByHop } from '../../../sdk/http.ts';

const noop = (): void => undefined;

const { NGHTTP2_FLAG_END_STREAM, NGHTTP2_INTERNAL_ERROR } = http2.constants;

/** Streams the gateway itself reset (a broken upstream answer): not the client's doing. */
export const resetByGateway = new WeakSet<ServerHttp2Stream>();

/** What every stream of a session shares. */
export interface SessionFacts {
  readonly client: Peer;
  readonly local: Peer;
  readonly tls: TlsInfo | undefined;
}

/** The request a stream carries; undefined when it has no `:path` (CONNECT), which the gateway does not serve. */
export function h2Request(
  stream: ServerHttp2Stream,
  raw: IncomingHttpHeaders,
  flags: number,
  facts: SessionFacts,
  idle: (ms: number, onTimeout?: () => void) => void,
): ClientRequest | undefined {
  const path = raw[':path'];
  const method = raw[':method'];
  if (path === undefined || method === undefined) return undefined;
  const headers: HttpHeaders = {};
  for (const name in raw) if (name.charCodeAt(0) !== 58 /* : */) headers[name] = raw[name];
  const authority = raw[':authority'];
  if (authority !== undefined) headers.host = authority;
  return {
    method,
    url: path,
    httpVersion: '2.0',
    headers,
    hosts: headers.host === undefined ? 0 : 1,
    client: facts.client,
    local: facts.local,
    tls: facts.tls,
    body: flags & NGHTTP2_FLAG_END_STREAM ? null : requestBody(stream),
    setTimeout: idle,
  };
}

/**
 * The stream's readable side as its own Readable: whoever consumes the request body (the
 * upstream client) may destroy it without taking the stream, which still has to answer.
 */
function requestBody(stream: ServerHttp2Stream): Readable {
  const body = new Readable({
    read: () => void stream.resume(),
    destroy: (err, done) => {
      stream.off('data', onData);
      // Unread data is let go (still counted by flow control), so the client is never stuck.
      if (!stream.readableEnded) stream.resume();
      done(err);
    },
  });
  // Its failure (the client reset the stream) may come before anyone reads it: it stays on `errored` for the lifecycle.
  body.on('error', noop);
  let ended = false;
  const onData = (chunk: Buffer) => {
    if (!body.push(chunk)) stream.pause();
  };
  stream.on('data', onData);
  stream.once('end', () => {
    ended = true;
    body.push(null);
  });
  stream.once('aborted', () =>
    body.destroy(ended ? new ClientFault('client reset the stream', 'C', 0) : new ClientFault('client reset the stream during its body', 'C', 0, 'B')),
  );
  return body;
}

/**
 * The answer on a stream. The head waits until the body starts, the answer ends, or the
 * next turn of the event loop, whichever comes first: an answer that ends at once (a
 * gRPC error, a 304) then leaves as one HEADERS frame with END_STREAM (trailers-only),
 * and trailers are waited for only where they may come (gRPC, or no content-length).
 */
export class H2Response implements ClientResponse {
  shouldKeepAlive = true; // meaningless for a stream: the session lives on
  #head: OutgoingHttpHeaders | undefined;
  #headSent = false;
  #flushed = false;
  #ended = false;
  #trailers: OutgoingHttpHeaders | undefined;
  #noBody: boolean;

  constructor(
    private readonly stream: ServerHttp2Stream,
    method: string,
  ) {
    this.#noBody = method === 'HEAD';
  }

  get headersSent(): boolean {
    return this.#headSent;
  }
  get destroyed(): boolean {
    return this.stream.destroyed;
  }
  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }
  get writableNeedDrain(): boolean {
    return this.stream.writableNeedDrain;
  }

  writeInformational(status: number, headers: Record<string, string | string[]>): void {
    const stream = this.stream;
    if (this.#headSent || stream.destroyed || stream.closed || stream.headersSent || status < 100 || status > 199 || status === 101) return;
    const head: OutgoingHttpHeaders = { ':status': status };
    for (const name in headers) {
      const key = name.toLowerCase();
      if (headers[name] === undefined || hopByHop.has(key) || key === 'host') continue;
      validateHeaderName(key);
      validateHeaderValue(key, headers[name] as string);
      head[key] = headers[name];
    }
    stream.additionalHeaders(head);
  }

  writeHead(status: number, headers: Record<string, string | string[]>): this {
    const head: OutgoingHttpHeaders = { ':status': status };
    for (const name in headers) {
      if (headers[name] === undefined) continue;
      const key = name.toLowerCase();
      // Fields HTTP/2 forbids (RFC 9113 8.2.2: node refuses to send them), and `host`, which no answer carries.
      if (hopByHop.has(key) || key === 'host') continue;
      // Thrown here, to the caller (a 502), rather than when the head leaves.
      validateHeaderName(key);
      validateHeaderValue(key, headers[name] as string);
      head[key] = headers[name];
    }
    if (status === 204 || status === 304 || (status >= 100 && status < 200)) this.#noBody = true;
    this.#head = head;
    this.#headSent = true;
    setImmediate(() => this.#flush(false));
    return this;
  }

  #flush(ending: boolean): boolean {
    if (this.#flushed) return true;
    this.#flushed = true;
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return false;
    const head = this.#head ?? { ':status': 200 };
    if (this.#noBody) {
      stream.respond(head, { endStream: true });
      this.#ended = true;
      return false;
    }
    const type = head['content-type'];
    const mayTrail = ending
      ? this.#trailers !== undefined
      : (typeof type === 'string' && type.startsWith('application/grpc')) || head['content-length'] === undefined;
    try {
      if (!mayTrail) stream.respond(head);
      else {
        stream.respond(head, { waitForTrailers: true });
        stream.once('wantTrailers', () => {
          try {
            if (!stream.destroyed) stream.sendTrailers(trailerFields(this.#trailers));
          } catch {
            this.destroy();
          }
        });
      }
    } catch {
      // What node refuses to send (checked in writeHead already, so not expected): the stream is reset.
      this.destroy();
      return false;
    }
    return true;
  }

  write(chunk: Uint8Array | string, written?: () => void): boolean {
    if (!this.#flush(false) || this.#ended) return true;
    // The stream's write callback comes once the session has sent the bytes (node keeps a
    // chunk until its DATA frame is written out): a lent chunk's buffer can then go back, or
    // each answer would take a fresh one.
    return this.stream.write(chunk, written && whenWritten(written));
  }

  end(chunk?: Uint8Array | string): this {
    if (this.#ended) return this;
    const empty = chunk === undefined || chunk.length === 0;
    if (!this.#flushed && empty && this.#trailers === undefined) this.#noBody = true;
    if (!this.#flush(true) || this.#ended) return this;
    this.#ended = true;
    if (empty) this.stream.end();
    else this.stream.end(chunk);
    return this;
  }

  addTrailers(headers: Record<string, string | string[]>): void {
    this.#trailers = { ...this.#trailers, ...headers };
  }

  destroy(): this {
    if (this.stream.destroyed) return this;
    resetByGateway.add(this.stream);
    this.stream.close(NGHTTP2_INTERNAL_ERROR);
    return this;
  }

  once(event: 'close' | 'drain', listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }
}

/** Trailer fields as HTTP/2 may carry them: no pseudo-headers, no connection-specific ones. */
function trailerFields(trailers: OutgoingHttpHeaders | undefined): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  for (const name in trailers) {
    const key = name.toLowerCase();
    if (key.charCodeAt(0) === 58 || hopByHop.has(key) || key === 'host' || key === 'content-length') continue;
    out[key] = trailers[name];
  }
  return out;
}
