// An HTTP/1.x answer written straight to the client's socket: the head built as one string
// on first write (so head and a small body leave in one writev), chunked framing when no
// length is known, trailers, and `Connection` decided here, never copied from a server.
import type { Socket } from 'node:net';
import type { RawSocket } from '../../net/raw-socket.ts';
import { whenWritten, type ClientResponse } from '../exchange.ts';
import { statusText } from '../errors.ts';
import { checkName, fieldLines } from '../fields.ts';

const statusLines = new Map<number, string>();
function statusLine(status: number): string {
  let line = statusLines.get(status);
  if (line === undefined) {
    line = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
    if (status >= 100 && status < 600) statusLines.set(status, line);
  }
  return line;
}

let dateLine = '';
let dateSecond = -1;
/** `date: ...\r\n`, made once a second. */
function date(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateLine = `date: ${new Date(second * 1000).toUTCString()}\r\n`;
  }
  return dateLine;
}

const release = (res: H1Response): void => res.release();
/** A first body chunk up to this size is held with the head and sent with it in one buffer. */
const heldMax = 16 * 1024;

/** The connection side a response reports to (core/http/h1/server.ts). */
export interface ResponseOwner {
  /** The answer is written (`ok`) or failed to be; called once. */
  responded(res: H1Response, ok: boolean): void;
}

export class H1Response implements ClientResponse {
  headersSent = false;
  writableFinished = false;
  /** Status written, 0 before. */
  status = 0;
  #head: string | undefined = undefined;
  #chunked = false;
  #noBody = false;
  #trailers: string | undefined = undefined;
  /** The head's first body chunk, held with it until the end of this tick (or `end()`). */
  #held: Uint8Array | undefined = undefined;
  #heldWritten: (() => void) | undefined = undefined;
  #closed = false;
  #onClose: (() => void)[] = [];
  #onDrain: (() => void)[] | undefined = undefined;

  constructor(
    private readonly socket: Socket | RawSocket,
    private readonly owner: ResponseOwner,
    /** The request allows the connection to stay open (llhttp's verdict: version and Connection). */
    public shouldKeepAlive: boolean,
    private readonly head: boolean,
    private readonly http10: boolean,
  ) {}

  get destroyed(): boolean {
    return this.socket.destroyed;
  }

  get writableNeedDrain(): boolean {
    return this.socket.writableNeedDrain;
  }

  writeHead(status: number, headers: Record<string, string | string[]>): this {
    if (this.headersSent) throw new Error('response head already sent');
    let head = statusLine(status);
    let length = false;
    let hasDate = false;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      checkName(name);
      switch (name.length === 10 || name.length === 14 || name.length === 17 || name.length === 4 ? name.toLowerCase() : '') {
        case 'connection':
          if (status === 101) break; // `upgrade`, as the server said
          if (/\bclose\b/i.test(String(value))) this.shouldKeepAlive = false;
          continue; // ours to say, below
        case 'content-length':
          length = true;
          break;
        case 'transfer-encoding':
          continue; // framing is ours to choose
        case 'date':
          hasDate = true;
          break;
      }
      head += fieldLines(name, value);
    }
    this.status = status;
    if (status === 101) {
      this.#noBody = true;
    } else {
      this.#noBody = this.head || status === 204 || status === 304 || status < 200;
      if (!this.#noBody && !length) {
        if (this.http10)
          this.shouldKeepAlive = false; // the end of the connection ends the body
        else {
          this.#chunked = true;
          head += 'transfer-encoding: chunked\r\n';
        }
      }
      if (!this.shouldKeepAlive) head += 'connection: close\r\n';
      else if (this.http10) head += 'connection: keep-alive\r\n';
    }
    if (!hasDate) head += date();
    this.#head = head + '\r\n';
    this.headersSent = true;
    return this;
  }

  writeInformational(status: number, headers: Record<string, string | string[]>): void {
    if (this.http10 || this.headersSent || this.socket.destroyed || status < 100 || status > 199 || status === 101) return;
    let head = statusLine(status);
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      checkName(name);
      head += fieldLines(name, value);
    }
    this.socket.write(head + '\r\n', 'latin1');
  }

  write(chunk: Uint8Array | string, written?: () => void): boolean {
    const socket = this.socket;
    if (this.writableFinished || socket.destroyed) return false;
    if (this.#noBody || chunk.length === 0) {
      if (this.#head !== undefined && this.#held === undefined) this.#holdHead();
      return !socket.writableNeedDrain;
    }
    if (this.#head !== undefined && this.#held === undefined && !this.#chunked && chunk.length <= heldMax && typeof chunk !== 'string') {
      // Most answers: the head and a small body, sent together once this tick is over (or at `end()`).
      this.#holdHead();
      this.#held = chunk;
      this.#heldWritten = written;
      return !socket.writableNeedDrain;
    }
    socket.cork();
    if (this.#head !== undefined) this.release();
    let ok: boolean;
    if (this.#chunked) {
      socket.write(`${Buffer.byteLength(chunk).toString(16)}\r\n`, 'latin1');
      socket.write(chunk, written && whenWritten(written));
      ok = socket.write('\r\n', 'latin1');
    } else ok = socket.write(chunk, written && whenWritten(written));
    socket.uncork();
    return ok;
  }

  addTrailers(headers: Record<string, string | string[]>): void {
    let out = '';
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      checkName(name, 'trailer name');
      out += fieldLines(name, value, 'trailer');
    }
    this.#trailers = out;
  }

  end(chunk?: Uint8Array | string): this {
    if (this.writableFinished) return this;
    const socket = this.socket;
    if (socket.destroyed) return this;
    if (!this.headersSent) this.writeHead(200, {});
    if (chunk !== undefined && chunk.length > 0 && !this.#noBody) this.write(chunk);
    this.writableFinished = true;
    // The last bytes' callback says when all of it was handed to the kernel (or failed).
    const done = (err?: Error | null) => this.owner.responded(this, !err);
    if (this.#head !== undefined && !this.#chunked) return (this.release(done), this);
    socket.cork();
    if (this.#head !== undefined) this.release();
    if (this.#chunked) socket.write(this.#trailers === undefined ? '0\r\n\r\n' : `0\r\n${this.#trailers}\r\n`, 'latin1', done);
    else socket.write('', 'latin1', done);
    socket.uncork();
    return this;
  }

  /** The head waits for what follows in this tick: a proxied answer's head, body and end leave in one write. */
  #holdHead(): void {
    process.nextTick(release, this);
  }

  /** Writes the head held back, with its first body chunk if one is held: one buffer, one write. */
  release(done?: (err?: Error | null) => void): void {
    const head = this.#head;
    if (head === undefined) return void (done && this.socket.write('', 'latin1', done));
    this.#head = undefined;
    const body = this.#held;
    const written = this.#heldWritten;
    this.#held = this.#heldWritten = undefined;
    if (this.socket.destroyed) return;
    if (body === undefined) return void this.socket.write(head, 'latin1', done);
    const out = Buffer.allocUnsafe(head.length + body.length);
    out.write(head, 0, 'latin1');
    out.set(body, head.length);
    written?.(); // copied
    this.socket.write(out, done);
  }

  destroy(): this {
    this.socket.destroy();
    return this;
  }

  once(event: 'close' | 'drain', listener: () => void): this {
    if (event === 'drain') {
      if (this.#closed) return this;
      this.socket.once('drain', listener);
      (this.#onDrain ??= []).push(listener);
    } else if (this.#closed) queueMicrotask(listener);
    else this.#onClose.push(listener);
    return this;
  }

  /** The answer is done, or its connection is gone: 'close' listeners run, once; 'drain' listeners still waiting go (the connection outlives the answer). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#onDrain) for (const listener of this.#onDrain) this.socket.off('drain', listener);
    const listeners = this.#onClose;
    this.#onClose = [];
    for (const listener of listeners) listener();
  }
}
