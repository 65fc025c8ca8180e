// The HTTP/2 frame guard alone (core/http/h2/guard.ts), over an in-memory socket: whatever
// the client sends and however the bytes are cut, the guard hands the session whole
// frames in order, decides the same, and never throws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import fc from 'fast-check';
import { frame, preface } from '../../fuzz/arbitraries/http2.ts';
import { FrameGuard } from '../../../core/http/h2/guard.ts';

/** Frames a client could send, valid or not: every type the guard reads, on a few streams, with windows near the limit. */
const clientFrame = fc
  .record({
    type: fc.oneof({ arbitrary: fc.constantFrom(0x0, 0x1, 0x3, 0x8), weight: 4 }, { arbitrary: fc.constantFrom(0x4, 0x6, 0x9, 0x2, 0xa), weight: 1 }),
    flags: fc.constantFrom(0, 1, 4, 5, 8),
    stream: fc.oneof({ arbitrary: fc.constantFrom(0, 1, 3, 5), weight: 4 }, { arbitrary: fc.constantFrom(2, 7, 9, 11, 0x7fffffff), weight: 1 }),
    payload: fc.oneof(
      fc.uint8Array({ maxLength: 24 }).map((b) => Buffer.from(b)),
      fc.constantFrom(0x7fffffff, 0x7fff0000, 1, 0, 65536).map((n) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])),
      fc.constantFrom(0x7fffffff, 0x80000000, 65535, 65536).map((n) => Buffer.from([0, 4, n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255])),
    ),
  })
  .map((f) => frame(f.type, f.flags, f.stream, f.payload));

/** Frames the session could send (its answers): DATA, HEADERS with END_STREAM, RST_STREAM, PING. */
const serverFrame = fc
  .record({ type: fc.constantFrom(0x0, 0x1, 0x3, 0x6), flags: fc.constantFrom(0, 1), stream: fc.constantFrom(0, 1, 3, 5), size: fc.nat({ max: 40 }) })
  .map((f) => frame(f.type, f.flags, f.stream, Buffer.alloc(f.type === 0x3 ? 4 : f.type === 0x6 ? 8 : f.size)));

interface Run {
  delivered: Buffer;
  sent: Buffer;
  actions: string[];
}

/** Feeds `input` cut at `cuts`, the session's `answers` written after each piece; returns what came out each way. */
async function run(input: Buffer, cuts: number[], answers: Buffer[]): Promise<Run> {
  const sent: Buffer[] = [];
  const socket = new Duplex({
    read() {},
    write(chunk: Buffer, _encoding, done) {
      sent.push(chunk);
      done();
    },
  });
  const actions: string[] = [];
  const guard = new FrameGuard(socket as unknown as Socket, {
    resetStream: (id, code) => {
      actions.push(`reset ${id} ${code}`);
      return false;
    },
    endSession: (code) => {
      actions.push(`end ${code}`);
      guard.goaway(code);
    },
  });
  const delivered: Buffer[] = [];
  guard.on('data', (chunk: Buffer) => delivered.push(chunk));
  const points = [...new Set(cuts.map((c) => c % (input.length + 1)))].sort((a, b) => a - b);
  let from = 0;
  let answer = 0;
  for (const to of [...points, input.length]) {
    if (to > from) socket.push(input.subarray(from, to));
    from = Math.max(from, to);
    // The session answers between reads, as it would.
    if (answer < answers.length) guard.write(answers[answer++]);
    await new Promise((resolve) => setImmediate(resolve));
  }
  return { delivered: Buffer.concat(delivered), sent: Buffer.concat(sent), actions };
}

/** The frames in `bytes` (after the preface), as whole buffers. */
function framesOf(bytes: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i + 9 <= bytes.length;) {
    const end = i + 9 + bytes.readUIntBE(i, 3);
    out.push(bytes.subarray(i, end));
    i = end;
  }
  return out;
}

describe('the HTTP/2 frame guard, alone', () => {
  it('hands the session whole client frames, in order, the same however the bytes are cut (fuzz)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(clientFrame, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.array(serverFrame, { maxLength: 6 }),
        async (frames, cuts, answers) => {
          const input = Buffer.concat([preface, ...frames]);
          const whole = await run(input, [], answers.length ? [Buffer.concat(answers)] : []);
          const cut = await run(input, cuts, answers.length ? [Buffer.concat(answers)] : []);
          assert.ok(whole.delivered.subarray(0, preface.length).equals(preface.subarray(0, whole.delivered.length)), 'the preface first');
          // Every frame handed on is one the client sent, in the order it sent them.
          let next = 0;
          for (const f of framesOf(whole.delivered.subarray(preface.length))) {
            while (next < frames.length && !frames[next]!.equals(f)) next++;
            assert.ok(next < frames.length, 'a frame the client sent');
            next++;
          }
          // Cutting the bytes differently changes nothing the guard hands on or decides,
          // up to where the whole delivery stopped (a cut may stop later in the same frame).
          assert.deepEqual(
            cut.actions.filter((a) => a.startsWith('end')),
            whole.actions.filter((a) => a.startsWith('end')),
          );
          assert.ok(cut.delivered.equals(whole.delivered), 'the same bytes reach the session');
        },
      ),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 300) },
    );
  });

  it('a frame head cut anywhere, even one byte at a time, is read whole', async () => {
    const input = Buffer.concat([preface, frame(0x6, 0x1, 0, Buffer.alloc(8)), frame(0x8, 0, 0, Buffer.from([0x7f, 0xff, 0xff, 0xff]))]);
    const r = await run(
      input,
      Array.from({ length: input.length }, (_, i) => i),
      [],
    );
    assert.deepEqual(r.actions, ['end 3'], 'the window overflow seen through one-byte reads');
    assert.ok(r.delivered.equals(preface), 'the unsolicited PING ACK dropped, the WINDOW_UPDATE never handed on');
  });
});
