// The frame rules of RFC 9113 that node's http2 session (nghttp2 behind node's binding)
// does not keep, kept in front of it: a Duplex between the client's socket and the
// session reads the header of every frame each way and acts before the session sees a
// frame that breaks one.
//
//   - DATA or HEADERS on a stream the client reset: stream error STREAM_CLOSED (5.1);
//     on one it closed with END_STREAM and the gateway answered whole: connection error
//     STREAM_CLOSED (5.1); HEADERS on a stream the client ended while the answer is still
//     going: STREAM_CLOSED, as a connection error (5.4.1 allows it; node would say
//     INTERNAL_ERROR).
//   - HEADERS opening a stream with an id lower than one the client already used:
//     connection error PROTOCOL_ERROR (5.1.1).
//   - A PING with ACK that answers no PING of ours: ignored (6.7); node ends the session.
//   - A WINDOW_UPDATE, or a SETTINGS_INITIAL_WINDOW_SIZE, that takes a window the gateway
//     sends on above 2^31-1: FLOW_CONTROL_ERROR, on the stream or the connection as the
//     frame says (6.9.1, 6.9.2, 6.5.2); node answers INTERNAL_ERROR and ends the session.
//
// The send windows are followed from the frames that pass: the client's WINDOW_UPDATEs and
// SETTINGS in, the gateway's DATA out. The gateway's DATA is counted only once it reaches
// the guard, so the guard's window is never smaller than the session's (no overflow the
// session would see is missed) and never larger than a well-behaved client's own count
// (none is ever refused for a window it keeps within bounds). Likewise a stream counts as
// closed only once the client has sent its END_STREAM or RST_STREAM and the gateway's
// side is seen done: a client keeping to the protocol is never told a stream is closed.
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';

const DATA = 0x0;
const HEADERS = 0x1;
const RST_STREAM = 0x3;
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const WINDOW_UPDATE = 0x8;
const END_STREAM = 0x1;
const ACK = 0x1;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const MAX_WINDOW = 2 ** 31 - 1;
const HEADER = 9;
/** The client connection preface (RFC 9113 3.4), which comes before its first frame. */
const PREFACE = 24;
/** The largest SETTINGS payload read (a larger one is the session's to refuse: FRAME_SIZE_ERROR). */
const MAX_SETTINGS = 16384;
/** Bytes the socket may hold unsent before the session waits (see #written). */
const OUT_BUFFER = 1024 * 1024;
/** Streams whose closing is remembered, and ranges of ids the client skipped: the most recent ones. */
const REMEMBERED = 256;

export const STREAM_CLOSED = 0x5;
export const PROTOCOL_ERROR = 0x1;
export const FLOW_CONTROL_ERROR = 0x3;

/** A stream the client opened, seen from the guard. */
interface Stream {
  /** What the gateway may still send on it (its send window). */
  window: number;
  /** The client sent END_STREAM. */
  remoteEnded: boolean;
  /** The gateway sent END_STREAM. */
  localEnded: boolean;
}

/**
 * How a stream the guard no longer follows was closed: by the client's END_STREAM, both
 * sides done (`ended`); by the client's RST_STREAM (`reset`); by the gateway's RST_STREAM
 * before the client was done (`ours`: the client's frames in flight are ignored, 5.1).
 */
type Closed = 'ended' | 'reset' | 'ours';

export interface GuardActions {
  /** A stream error: the session resets the stream with `code`; false when it no longer has it. */
  resetStream(id: number, code: number): boolean;
  /** A connection error: GOAWAY with `code`, and the connection ends. */
  endSession(code: number): void;
}

/** What the guard reports of one frame the client sent. */
type Verdict = 'pass' | 'drop' | 'stop';

export class FrameGuard extends Duplex {
  readonly #socket: Socket;
  readonly #actions: GuardActions;
  readonly #streams = new Map<number, Stream>();
  readonly #closed = new Map<number, Closed>();
  /** Ranges of stream ids the client skipped: never opened, closed by a higher one (5.1.1). */
  readonly #skipped: [number, number][] = [];
  #lastId = 0;
  /** The send window of the connection, and the initial window of new streams (the client's setting). */
  #window = 65535;
  #initialWindow = 65535;
  /** PINGs the gateway sent and the client has not acknowledged yet. */
  #pings = 0;
  #stopped = false;
  /** The guard sent GOAWAY: the session's output goes nowhere. */
  #gone = false;

  // Input: a partial frame head (or a frame whose payload the guard reads) kept until the rest
  // arrives, and the bytes of the current frame still to pass on or drop.
  #held: Buffer | undefined;
  #pass = PREFACE;
  #drop = 0;
  // Output: the same for the gateway's frames, read and always passed on.
  #outHead = Buffer.alloc(HEADER);
  #outHeld = 0;
  #outSkip = 0;

  constructor(socket: Socket, actions: GuardActions) {
    super({ allowHalfOpen: false, readableHighWaterMark: 256 * 1024, writableHighWaterMark: 256 * 1024 });
    this.#socket = socket;
    this.#actions = actions;
    socket.on('data', (chunk: Buffer) => {
      if (!this.#stopped) this.#input(chunk);
    });
    socket.once('end', () => this.push(null));
    socket.once('close', () => this.destroy());
    socket.on('error', (err) => this.destroy(err));
    // The socket's own end (a FIN) is the session's to learn through push(null) above.
    socket.pause();
  }

  // The session reading and writing through the guard:

  override _read(): void {
    this.#socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    if (this.#gone) return done();
    this.#output(chunk);
    this.#socket.write(chunk);
    this.#written(done);
  }

  override _writev(chunks: { chunk: Buffer }[], done: (error?: Error | null) => void): void {
    if (this.#gone) return done();
    this.#socket.cork();
    for (const { chunk } of chunks) {
      this.#output(chunk);
      this.#socket.write(chunk);
    }
    this.#socket.uncork();
    this.#written(done);
  }

  /**
   * The session's write is done once the socket holds less than `OUT_BUFFER` unsent: node's
   * stream wrap lets the session write again only a turn of the loop after each write is
   * done, so waiting for the socket to drain at its own 16 KiB mark would starve it.
   */
  #written(done: () => void): void {
    if (this.#socket.writableLength < OUT_BUFFER) done();
    else this.#socket.once('drain', () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#socket.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#socket.destroy(error ?? undefined);
    done(error);
  }

  /**
   * Ends the connection with GOAWAY `code`, written by the guard itself: node's session,
   * destroyed while a write of its own is in flight (through the guard, every write finishes
   * a turn of the loop later), drops its GOAWAY. Its last stream is the highest the session
   * was given; nothing the session writes after it leaves, and nothing more is read.
   */
  goaway(code: number): void {
    if (this.#gone) return;
    this.#gone = true;
    this.#stop();
    const payload = Buffer.alloc(8);
    payload.writeUInt32BE(this.#lastId, 0);
    payload.writeUInt32BE(code, 4);
    this.#send(GOAWAY, 0, payload);
  }

  /** Bytes to the session, stopping the socket when it has enough. */
  #deliver(bytes: Buffer): void {
    if (bytes.length && !this.push(bytes)) this.#socket.pause();
  }

  /** Sends a frame of the guard's own to the client (RST_STREAM on a stream the session no longer has). */
  #send(type: number, id: number, payload: Buffer): void {
    const frame = Buffer.alloc(HEADER + payload.length);
    frame.writeUIntBE(payload.length, 0, 3);
    frame[3] = type;
    frame.writeUInt32BE(id, 5);
    payload.copy(frame, HEADER);
    this.#socket.write(frame);
  }

  #input(chunk: Buffer): void {
    const bytes = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = undefined;
    let i = 0;
    let from = 0; // start of the bytes passed on but not yet delivered
    while (i < bytes.length) {
      if (this.#pass > 0) {
        const n = Math.min(this.#pass, bytes.length - i);
        this.#pass -= n;
        i += n;
        continue;
      }
      if (this.#drop > 0) {
        this.#deliver(bytes.subarray(from, i));
        const n = Math.min(this.#drop, bytes.length - i);
        this.#drop -= n;
        i += n;
        from = i;
        continue;
      }
      if (bytes.length - i < HEADER) break;
      const length = bytes.readUIntBE(i, 3);
      const type = bytes[i + 3]!;
      // The payload is read for these; a larger SETTINGS than any valid one is left to the session.
      const read = (type === WINDOW_UPDATE && length === 4) || (type === SETTINGS && length <= MAX_SETTINGS) ? length : 0;
      if (bytes.length - i < HEADER + read) break;
      const verdict = this.#frame(type, bytes[i + 4]!, bytes.readUInt32BE(i + 5) & 0x7fffffff, bytes.subarray(i + HEADER, i + HEADER + read), () => {
        this.#deliver(bytes.subarray(from, i));
        from = i;
      });
      if (verdict === 'stop') {
        this.#stop();
        return;
      }
      if (verdict === 'drop') {
        this.#deliver(bytes.subarray(from, i));
        from = i = i + HEADER;
        this.#drop = length;
      } else {
        i += HEADER;
        this.#pass = length;
      }
    }
    this.#deliver(bytes.subarray(from, i));
    if (i < bytes.length) this.#held = Buffer.from(bytes.subarray(i));
  }

  /** The client broke a rule the connection cannot outlive: nothing more is read. */
  #stop(): void {
    this.#stopped = true;
    this.#held = undefined;
  }

  /**
   * One frame from the client, its payload read for WINDOW_UPDATE and SETTINGS.
   * `flush` delivers the bytes before it, for an action that must come after them.
   */
  #frame(type: number, flags: number, id: number, payload: Buffer, flush: () => void): Verdict {
    switch (type) {
      case HEADERS:
      case DATA: {
        if (id === 0 || id % 2 === 0) return 'pass'; // the session's to refuse
        const stream = this.#streams.get(id);
        if (stream) {
          if (stream.remoteEnded) {
            // DATA after END_STREAM: the session answers STREAM_CLOSED itself; HEADERS it answers INTERNAL_ERROR.
            if (type === DATA) return 'pass';
            flush();
            this.#actions.endSession(STREAM_CLOSED);
            return 'stop';
          }
          if (flags & END_STREAM) this.#remoteEnd(id, stream);
          return 'pass';
        }
        if (id > this.#lastId) {
          if (type === DATA) return 'pass'; // DATA on an idle stream: the session's PROTOCOL_ERROR
          if (id > this.#lastId + 2) this.#remember(this.#skipped, [this.#lastId + 2, id - 2]);
          this.#lastId = id;
          this.#streams.set(id, { window: this.#initialWindow, remoteEnded: false, localEnded: false });
          if (flags & END_STREAM) this.#remoteEnd(id, this.#streams.get(id)!);
          return 'pass';
        }
        const closed = this.#closed.get(id);
        if (closed === 'ended') {
          flush();
          this.#actions.endSession(STREAM_CLOSED);
          return 'stop';
        }
        if (closed === 'reset') {
          // The session has forgotten the stream; it still reads the frame (its header block, its
          // share of the connection's flow control) and the guard answers for it.
          flush();
          this.#send(RST_STREAM, id, u32(STREAM_CLOSED));
          return 'pass';
        }
        if (closed === undefined && type === HEADERS && this.#skipped.some(([low, high]) => id >= low && id <= high)) {
          flush();
          this.#actions.endSession(PROTOCOL_ERROR);
          return 'stop';
        }
        return 'pass';
      }
      case RST_STREAM: {
        const stream = this.#streams.get(id);
        if (stream) {
          this.#streams.delete(id);
          this.#remember(this.#closed, id, 'reset');
        }
        return 'pass';
      }
      case WINDOW_UPDATE: {
        if (payload.length !== 4) return 'pass'; // FRAME_SIZE_ERROR: the session's
        const increment = payload.readUInt32BE(0) & 0x7fffffff;
        if (increment === 0) return 'pass'; // PROTOCOL_ERROR: the session's
        if (id === 0) {
          this.#window += increment;
          if (this.#window <= MAX_WINDOW) return 'pass';
          flush();
          this.#actions.endSession(FLOW_CONTROL_ERROR);
          return 'stop';
        }
        const stream = this.#streams.get(id);
        if (!stream || stream.localEnded) return 'pass';
        stream.window += increment;
        if (stream.window <= MAX_WINDOW) return 'pass';
        flush();
        this.#streams.delete(id);
        this.#remember(this.#closed, id, stream.remoteEnded ? 'ended' : 'ours');
        if (!this.#actions.resetStream(id, FLOW_CONTROL_ERROR)) this.#send(RST_STREAM, id, u32(FLOW_CONTROL_ERROR));
        return 'drop';
      }
      case SETTINGS: {
        if (flags & ACK || id !== 0 || payload.length % 6 !== 0) return 'pass';
        for (let at = 0; at < payload.length; at += 6) {
          if (payload.readUInt16BE(at) !== SETTINGS_INITIAL_WINDOW_SIZE) continue;
          const size = payload.readUInt32BE(at + 2);
          const delta = size - this.#initialWindow;
          let over = size > MAX_WINDOW;
          for (const stream of this.#streams.values()) if (!stream.localEnded && (stream.window += delta) > MAX_WINDOW) over = true;
          this.#initialWindow = size;
          if (over) {
            flush();
            this.#actions.endSession(FLOW_CONTROL_ERROR);
            return 'stop';
          }
        }
        return 'pass';
      }
      case PING: {
        if (!(flags & ACK)) return 'pass';
        if (this.#pings > 0) {
          this.#pings--;
          return 'pass';
        }
        return 'drop';
      }
      default:
        return 'pass';
    }
  }

  #remoteEnd(id: number, stream: Stream): void {
    stream.remoteEnded = true;
    if (stream.localEnded) this.#forget(id, 'ended');
  }

  #forget(id: number, how: Closed): void {
    this.#streams.delete(id);
    this.#remember(this.#closed, id, how);
  }

  #remember<K, V>(into: Map<K, V> | [number, number][], key: K | [number, number], value?: V): void {
    if (Array.isArray(into)) {
      into.push(key as [number, number]);
      if (into.length > REMEMBERED) into.shift();
      return;
    }
    into.set(key as K, value as V);
    if (into.size > REMEMBERED) into.delete(into.keys().next().value as K);
  }

  /** The gateway's frames, read as they leave: DATA spends windows, END_STREAM and RST_STREAM close streams. */
  #output(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length) {
      if (this.#outSkip > 0) {
        const n = Math.min(this.#outSkip, chunk.length - i);
        this.#outSkip -= n;
        i += n;
        continue;
      }
      let head: Buffer;
      let at: number;
      if (this.#outHeld === 0 && chunk.length - i >= HEADER) {
        head = chunk;
        at = i;
        i += HEADER;
      } else {
        const n = Math.min(HEADER - this.#outHeld, chunk.length - i);
        chunk.copy(this.#outHead, this.#outHeld, i, i + n);
        this.#outHeld += n;
        i += n;
        if (this.#outHeld < HEADER) return;
        this.#outHeld = 0;
        head = this.#outHead;
        at = 0;
      }
      const length = head.readUIntBE(at, 3);
      const type = head[at + 3]!;
      const flags = head[at + 4]!;
      const id = head.readUInt32BE(at + 5) & 0x7fffffff;
      this.#outSkip = length;
      if (type === DATA || type === HEADERS) {
        const stream = this.#streams.get(id);
        if (type === DATA) {
          this.#window -= length;
          if (stream) stream.window -= length;
        }
        if (stream && flags & END_STREAM) {
          stream.localEnded = true;
          if (stream.remoteEnded) this.#forget(id, 'ended');
        }
      } else if (type === RST_STREAM) {
        const stream = this.#streams.get(id);
        if (stream) this.#forget(id, stream.remoteEnded ? 'ended' : 'ours');
      } else if (type === PING && !(flags & ACK)) this.#pings++;
    }
  }
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
