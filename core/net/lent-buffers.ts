// Body bytes copied out of RawSocket's read buffer (one for the process, reused by the next
// read) into buffers that are lent and given back, instead of a fresh allocation per read:
// a new 64 KiB buffer each time costs more than the copy itself (fresh pages, external
// memory the GC must account for), which made a large body's copy as dear as llhttp's.
// A body is passed on this way only past llhttp (core/upstream/h1-pool.ts for servers'
// answers, core/http/h1/server.ts for requests): whoever writes a lent chunk to a socket,
// and is its only reader, gives it back once the write is done; any other reader keeps it
// (it is then simply collected).

const size = 64 * 1024;
/** At most this many wait for a body. */
const maxSpares = 32;
const spares: Buffer[] = [];
/** Lent chunks (views) and the buffer each is a view of. */
const lent = new WeakMap<Buffer, Buffer>();

/** `chunk[from, to)` copied into a lent buffer (larger than one: a plain copy). */
export function lendCopy(chunk: Buffer, from: number, to: number): Buffer {
  if (to - from > size) return Buffer.from(chunk.subarray(from, to));
  const buffer = spares.pop() ?? Buffer.allocUnsafeSlow(size);
  chunk.copy(buffer, 0, from, to);
  const view = buffer.subarray(0, to - from);
  lent.set(view, buffer);
  return view;
}

/** Whether `chunk` is lent (see `giveBack`). */
export function isLent(chunk: Uint8Array): boolean {
  return lent.has(chunk as Buffer);
}

/** Nobody needs `chunk`'s bytes any more: its buffer may hold the next body's. Once only; anything else is ignored. */
export function giveBack(chunk: Uint8Array): void {
  const buffer = lent.get(chunk as Buffer);
  if (buffer === undefined) return;
  lent.delete(chunk as Buffer);
  if (spares.length < maxSpares) spares.push(buffer);
}
