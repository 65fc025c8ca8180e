// Clients that do exactly what they are told: refused, they wait Retry-After seconds to
// the ms (on the fake clock) and ask again; told `r=0;t=N`, they wait N seconds. Every
// such request must pass, from every offset into a window (boundaries included), and
// the promise must be the real wait rounded up to a second, not a safe overestimate.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import { get, webConfig, type Seen } from './fixture.ts';

const window = 10_000;
const limit = 5;
/** Offsets into a window at which a client starts: either side of its boundary, and spread over it. */
const offsets = [0, 1, 999, 1_000, 1_001, 5_000, 8_000, 9_000, 9_001, 9_500, 9_998, 9_999, ...Array.from({ length: 16 }, (_, i) => (i * 6_133) % window)];

describe('rate-limit: Retry-After and RateLimit t never promise less than the real wait', () => {
  const open: TestGateway[] = [];
  const start = async (options: Record<string, unknown>) => {
    const g = await createTestGateway({
      config: webConfig([{ use: 'rate-limit', options: { key: { header: 'x-client' }, store: 'local', ...options } }]),
      origins: { a: 'name' },
      clock: { start: 1_800_000_000_000 },
    });
    open.push(g);
    return g;
  };
  after(async () => {
    for (const g of open) await g.close();
  });

  const seconds = (res: Seen, field: 'retry' | 't'): number => {
    const text = field === 'retry' ? res.retryAfter : /;t=(\d+)$/.exec(res.limit ?? '')?.[1];
    assert.match(text ?? '', /^\d+$/, `${field} in ${JSON.stringify(res)}`);
    return Number(text);
  };

  /**
   * One client from `offset` ms into a window: rounds of sending until refused (or until
   * told r=0) at varied moments, then waiting exactly the promise, which must pass. A
   * second short of a Retry-After must still be refused: the promise is tight.
   */
  async function obeyingClient(g: TestGateway, client: string, offset: number, longest: number, failures: string[]) {
    g.clock.advance((window - (g.clock.now() % window) + offset) % window);
    const headers = { 'x-client': client };
    for (let round = 0; round < 4; round++) {
      let last: Seen;
      let n = 0;
      do last = await get(g.url(), headers);
      while (last.status === 200 && (round % 2 === 1 || !/;r=0;/.test(last.limit ?? '')) && ++n < 50);
      const promised = last.status === 429 ? seconds(last, 'retry') : seconds(last, 't');
      if (last.status === 429) assert.equal(seconds(last, 't'), promised, 'a refusal’s t is its Retry-After');
      const at = `client ${client} round ${round} at ${g.clock.now() % window} ms into the window`;
      if (promised * 1000 > longest) failures.push(`${at}: promised ${promised} s, more than the longest real wait`);
      if (last.status === 429 && promised > 1) {
        g.clock.advance((promised - 1) * 1000);
        const early = await get(g.url(), headers);
        if (early.status !== 429) failures.push(`${at}: promised ${promised} s, but a second earlier was already allowed`);
        g.clock.advance(1000);
      } else g.clock.advance(promised * 1000);
      const retried = await get(g.url(), headers);
      if (retried.status !== 200) failures.push(`${at}: told to wait ${promised} s (${last.status}), did, and was refused: ${retried.limit}`);
      // Somewhere else in the window before the next burst, so the counts left behind differ.
      g.clock.advance((round * 2_347 + offset) % window);
    }
  }

  it('a sliding window: obeyed Retry-After and r=0 t are always enough, from any offset', async () => {
    const g = await start({ limit: `${limit} per 10s` });
    const failures: string[] = [];
    // The longest real wait: a window filled at its start, then a fifth of the next one for one to fit.
    const longest = window + Math.ceil(window / limit / 1000) * 1000;
    for (const [i, offset] of offsets.entries()) await obeyingClient(g, `c${i}`, offset, longest, failures);
    assert.deepEqual(failures, []);
  });

  it('a token bucket: obeyed Retry-After and r=0 t are always enough', async () => {
    const g = await start({ algorithm: 'token_bucket', rate: '3 per 10s', burst: 4 });
    const failures: string[] = [];
    // The longest honest `t`: an empty bucket refilling whole (4 tokens at 3 per 10 s).
    const longest = Math.ceil((4 * 10_000) / 3 / 1000) * 1000;
    for (const [i, offset] of offsets.entries()) await obeyingClient(g, `b${i}`, offset, longest, failures);
    assert.deepEqual(failures, []);
  });
});
