// HTTP/2 for an http frontend's listener (core/gateway.ts): it is offered each connection
// once TLS is done (or at once without TLS) and takes those that speak HTTP/2. One
// node:http2 server per listener, never listening itself, is fed those connections; each
// stream then goes through the same lifecycle (core/http/proxy.ts) as an HTTP/1.1 request.
import { performance } from 'node:perf_hooks';
import http2, { type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Listener } from '../../gateway.ts';
import { handleHttpRequest } from '../proxy.ts';
import { tlsInfoOf } from '../../tls/facts.ts';
import { h2Request, H2Response, resetByGateway, type SessionFacts } from './stream.ts';
import { FrameGuard } from './guard.ts';

const { NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_NO_ERROR } = http2.constants;

/** The client connection preface of cleartext HTTP/2 with prior knowledge (RFC 9113 3.4). */
const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** Its first line: a client that sent it whole meant HTTP/2, whatever follows. */
const prefaceLine = 'PRI * HTTP/2.0\r\n'.length;
/**
 * What a broken HTTP/2 preface gets (RFC 9113 3.4): the server's own preface (an empty
 * SETTINGS frame), then GOAWAY with PROTOCOL_ERROR, last stream 0.
 */
const refusedPreface = Buffer.from([
  ...[0, 0, 0, 0x04, 0, 0, 0, 0, 0], // SETTINGS, empty
  ...[0, 0, 8, 0x07, 0, 0, 0, 0, 0], // GOAWAY on stream 0, 8 bytes:
  ...[0, 0, 0, 0, 0, 0, 0, 0x01], // last stream 0, PROTOCOL_ERROR
]);

/**
 * Whether the client ended a closed stream with RST_STREAM: not the gateway's own reset, and
 * closed with an error code, or before the gateway's answer ended (`aborted`), or before
 * its head left (a HEAD request, whose writable side node ends at once, is never `aborted`).
 * A normal close has code NO_ERROR, after the whole answer.
 */
function resetByClient(stream: ServerHttp2Stream): boolean {
  return !resetByGateway.has(stream) && (stream.rstCode !== NGHTTP2_NO_ERROR || stream.aborted || !stream.headersSent);
}

/** What the engine keeps of each session. */
interface SessionState {
  readonly facts: SessionFacts;
  /** Streams open now. */
  open: number;
  /** Streams the client reset in the current one-second window, and when it began. */
  resets: number;
  windowStart: number;
  /** Closes the session when it has been idle (no stream open) for the keep-alive timeout. */
  idle: NodeJS.Timeout | undefined;
  /** Set once GOAWAY is sent: ends the connection when no stream is left. */
  closing: NodeJS.Timeout | undefined;
  /** Ends the session and its connection, as node's session.destroy (GOAWAY NO_ERROR, or `code` with an error). */
  readonly end: (error?: Error, code?: number) => void;
  /** The streams being served, by id: the frame guard resets one through the session. */
  readonly streams: Map<number, ServerHttp2Stream>;
}

/** A connection on its way to the server: its socket, and the frame guard the session reads it through. */
interface Arriving {
  readonly socket: Socket;
  guard?: FrameGuard;
  state?: SessionState;
}

export class H2Engine {
  readonly #server: Http2Server;
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  /** The connection being handed to the server now: its 'session' event comes synchronously. */
  #arriving: Arriving | undefined;
  #draining = false;

  constructor(private readonly listener: Listener) {
    this.#server = http2.createServer(this.#options());
    this.#server.on('session', (session: ServerHttp2Session) => this.#open(session));
    // A socket that is neither (an ALPN-less TLS client): node hands it here; it is closed.
    this.#server.on('unknownProtocol', (socket: Socket) => socket.destroy());
  }

  #options(): http2.ServerOptions {
    const limits = this.listener.fe.limits;
    return {
      settings: {
        maxConcurrentStreams: limits.h2_max_concurrent_streams,
        maxHeaderListSize: limits.max_header_size,
        enablePush: false,
      },
      // node's own CONTINUATION and header guards: the list size above, and this many fields.
      maxHeaderListPairs: 256,
      // Streams refused for exceeding maxConcurrentStreams, and invalid frames, before the session ends.
      maxSessionRejectedStreams: 100,
      maxSessionInvalidFrames: 100,
    };
  }

  /**
   * Takes `socket` when it speaks HTTP/2 and returns true; false leaves it to HTTP/1.x.
   * An engine that must read first to know (a cleartext preface) returns true and gives
   * the socket, bytes put back, to `http1` when it turns out not to be HTTP/2.
   */
  claims(socket: Socket, http1: (socket: Socket) => void): boolean {
    const alpn = (socket as Socket & { alpnProtocol?: string | false }).alpnProtocol;
    if (alpn === 'h2') {
      this.#serve(socket);
      return true;
    }
    if (alpn !== undefined || !this.listener.fe.h2c) return false;
    // Cleartext: read until the bytes agree with the preface all along, or stop doing so.
    let seen: Buffer = Buffer.alloc(0);
    const decide = (h2: boolean) => {
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('timeout', onSilence);
      socket.setTimeout(0);
      socket.pause();
      if (seen.length) socket.unshift(seen);
      if (h2) this.#serve(socket);
      else {
        http1(socket);
        socket.resume();
      }
    };
    const onData = (chunk: Buffer) => {
      seen = seen.length ? Buffer.concat([seen, chunk]) : chunk;
      const n = Math.min(seen.length, preface.length);
      if (seen.subarray(0, n).equals(preface.subarray(0, n))) {
        if (n === preface.length) decide(true);
        return;
      }
      // Its first line was HTTP/2's: an HTTP/2 client whose preface broke gets HTTP/2's answer, not HTTP/1's 400.
      if (seen.length >= prefaceLine && seen.subarray(0, prefaceLine).equals(preface.subarray(0, prefaceLine))) {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('timeout', onSilence);
        socket.setTimeout(0);
        socket.end(refusedPreface);
        return;
      }
      decide(false);
    };
    const onEnd = () => decide(false);
    // A client that sends nothing gets what a silent HTTP/1.x client gets: closed after client_headers.
    const onSilence = () => socket.destroy();
    socket.setTimeout(this.listener.fe.timeouts.client_headers);
    socket.once('timeout', onSilence);
    socket.on('data', onData);
    socket.once('end', onEnd);
    return true;
  }

  #serve(socket: Socket): void {
    const arriving: Arriving = { socket };
    if (this.listener.fe.h2_strict_frames)
      arriving.guard = new FrameGuard(socket, {
        resetStream: (id, code) => {
          const stream = arriving.state?.streams.get(id);
          if (!stream || stream.closed) return false;
          resetByGateway.add(stream);
          stream.close(code);
          return true;
        },
        endSession: (code) => arriving.state?.end(new Error(`HTTP/2 frame rule broken (code ${code})`), code),
      });
    this.#arriving = arriving;
    try {
      this.#server.emit('connection', arriving.guard ?? socket);
    } finally {
      this.#arriving = undefined;
    }
  }

  #open(session: ServerHttp2Session): void {
    const arriving = this.#arriving;
    const socket = arriving?.socket ?? (session.socket as Socket);
    const state: SessionState = {
      facts: {
        client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
        local: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
        tls: tlsInfoOf(socket),
      },
      open: 0,
      resets: 0,
      windowStart: 0,
      idle: undefined,
      closing: undefined,
      // node's session.destroy() sends GOAWAY, then ends the connection gracefully. Through the
      // frame guard, the guard sends the GOAWAY (see FrameGuard.goaway) and node then ends the
      // socket through it: a second is left for that. Without the guard, node waits for the
      // client's FIN, which it may have swallowed already: the socket goes a turn of the loop
      // later (over TLS, the GOAWAY is still on its way out when destroy() returns).
      end: (error, code) => {
        if (arriving?.guard) {
          arriving.guard.goaway(code ?? NGHTTP2_NO_ERROR);
          setTimeout(() => socket.destroy(), 1000).unref();
        } else setImmediate(() => socket.destroy());
        session.destroy(error, code);
      },
      streams: new Map(),
    };
    if (arriving) arriving.state = state;
    this.#sessions.set(session, state);
    // The session's own event, not the server's: a stream reset in the same read as its
    // HEADERS has already lost its `session` when it is emitted (see #stream).
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => this.#stream(session, state, stream, headers, flags));
    session.once('close', () => {
      clearTimeout(state.idle);
      clearInterval(state.closing);
      this.#sessions.delete(session);
    });
    session.on('error', (err: Error) => this.listener.gen.logger.debug({ frontend: this.listener.fe.name, err: err.message }, 'HTTP/2 session error'));
    // node's session reads the TLS socket's handle itself and only passes the end of input
    // on to the socket, which sees it once flowing (node resumes it too, but only on a
    // graceful close). HTTP/2 has no half-close: a client's FIN ends the session and its
    // streams. (A cleartext socket must not flow: its reads would then bypass the session.)
    if (state.facts.tls && !arriving?.guard) {
      socket.once('end', () => state.end());
      socket.resume();
    }
    // A session with no traffic either way for the client timeout (a client gone silent, a stream stuck at a zero window) ends.
    session.setTimeout(this.listener.fe.timeouts.client, () => state.end());
    if (this.#draining) this.#goAway(session, state);
    else this.#armIdle(session, state);
  }

  /** A session without open streams is closed (GOAWAY) after the frontend's keep-alive timeout. */
  #armIdle(session: ServerHttp2Session, state: SessionState): void {
    clearTimeout(state.idle);
    state.idle = setTimeout(() => {
      if (state.open === 0) this.#goAway(session, state);
    }, this.listener.fe.timeouts.keepalive);
    state.idle.unref();
  }

  /**
   * GOAWAY, and the session ends once its streams are done. node then waits for the
   * client to close the connection; one that does not (or is gone without a FIN node
   * passed on) has it closed a second after its last stream.
   */
  #goAway(session: ServerHttp2Session, state: SessionState): void {
    if (state.closing || session.destroyed) return;
    session.close();
    let quiet = 0;
    state.closing = setInterval(() => {
      if (state.open > 0) quiet = 0;
      else if (++quiet >= 2) state.end();
    }, 500);
    state.closing.unref();
  }

  #stream(session: ServerHttp2Session, state: SessionState, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number): void {
    stream.on('error', () => undefined); // a reset stream: its answer learns it from 'close'
    // node emits 'stream' a tick after it reads the HEADERS frame, so a RST_STREAM read in the
    // same go has closed the stream already (and taken its `session`). Always so for the
    // bytes an h2c connection opened with: node feeds them to the session in one call, and
    // the streams come after all of them. Such a stream is counted, never served.
    if (stream.closed) {
      if (resetByClient(stream)) this.#clientReset(session, state);
      return;
    }
    state.open++;
    const id = stream.id ?? 0; // a stream from 'stream' always has its id
    state.streams.set(id, stream);
    clearTimeout(state.idle);
    stream.once('close', () => {
      state.open--;
      state.streams.delete(id);
      if (resetByClient(stream)) this.#clientReset(session, state);
      if (state.open === 0 && !session.closed) this.#armIdle(session, state);
    });
    const listener = this.listener;
    const req = h2Request(stream, headers, flags, state.facts, (ms, onTimeout) => void stream.setTimeout(ms, onTimeout));
    if (!req) {
      // CONNECT (no :path): no tunnels over HTTP/2 streams.
      stream.respond({ ':status': 501 }, { endStream: true });
      return;
    }
    void handleHttpRequest(listener.fe, listener.gen, listener, req, new H2Response(stream, req.method));
  }

  /**
   * Rapid reset (CVE-2023-44487): a client that cancels more streams a second than the
   * frontend allows gets GOAWAY ENHANCE_YOUR_CALM and loses its connection; others never
   * notice. (nghttp2's own limit, 1000 at once then 33 a second, stays behind this one.)
   */
  #clientReset(session: ServerHttp2Session, state: SessionState): void {
    // Streams closed by the end of the session itself (a cut, a timeout, the client's FIN) are no resets.
    if (session.destroyed) return;
    const now = performance.now();
    if (now - state.windowStart >= 1000) {
      state.windowStart = now;
      state.resets = 0;
    }
    if (++state.resets <= this.listener.fe.limits.h2_max_resets_per_second) return;
    this.listener.gen.logger.warn(
      { frontend: this.listener.fe.name, client: state.facts.client.address, resets: state.resets },
      'HTTP/2 client resets streams too fast (rapid reset): connection closed',
    );
    // One GOAWAY (RFC 9113 6.8: its last stream id may never grow), and the session is
    // destroyed at once: no stream after this one is read or counted.
    state.end(new Error('rapid reset'), NGHTTP2_ENHANCE_YOUR_CALM);
  }

  /** The generation drains: GOAWAY on every session; open streams finish, then each session closes. */
  drain(): void {
    this.#draining = true;
    for (const [session, state] of this.#sessions) this.#goAway(session, state);
  }

  /** Ends every session at once. */
  kill(): void {
    this.#draining = true;
    for (const state of this.#sessions.values()) state.end();
  }

  /** Settings that may change on a kept listener (a reload's limits), for sessions from now on. */
  applyLimits(): void {
    this.#server.updateSettings(this.#options().settings!);
  }
}
