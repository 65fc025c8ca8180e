// ab-split's test: a whole gateway in this process (createTestGateway) in front of two
// fake origins, one per variant. Run it with
// `node --import tsx --test examples/custom-plugin/ab-split.test.ts`.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import { abSplit } from './ab-split.ts';

/** A seeded random source (mulberry32): the same draws on every run. */
function seeded(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('ab-split', () => {
  let t: TestGateway;

  before(async () => {
    t = await createTestGateway({
      config: {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'stable',
            plugins: [{ use: 'ab-split', options: { weights: { a: 90, b: 10 }, backends: { a: 'stable', b: 'next' } } }],
          },
        },
        backends: {
          stable: { servers: [{ name: 'stable', address: 'origin:stable' }] },
          next: { servers: [{ name: 'next', address: 'origin:next' }] },
        },
      },
      plugins: { 'ab-split': abSplit(seeded(42)) },
      origins: { stable: 'echo', next: 'echo' },
    });
  });

  after(() => t?.close());

  /** Which origin answered: the echo origin says its name. */
  const origin = (body: string): string => JSON.parse(body).origin;

  it('keeps a visitor with a cookie on that variant, and sets no new cookie', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await t.request({ path: '/', headers: { cookie: 'ab=b' } });
      assert.equal(origin(res.body), 'next');
      assert.equal(res.headers['set-cookie'], undefined);
    }
  });

  it('gives a new visitor a variant and a cookie that keeps it', async () => {
    const first = await t.request('/');
    const [cookie, ...more] = first.headers['set-cookie'] ?? [];
    assert.deepEqual(more, []);
    assert.match(cookie!, /^ab=(a|b); Path=\/; Max-Age=2592000; SameSite=Lax$/);
    const variant = cookie!.slice('ab='.length, cookie!.indexOf(';'));
    assert.equal(origin(first.body), variant === 'a' ? 'stable' : 'next');
    for (let i = 0; i < 5; i++) {
      const again = await t.request({ path: '/', headers: { cookie: `ab=${variant}` } });
      assert.equal(origin(again.body), origin(first.body));
    }
  });

  it('treats an unknown variant in the cookie as a new visitor', async () => {
    const res = await t.request({ path: '/', headers: { cookie: 'other=1; ab=zzz' } });
    assert.match(res.headers['set-cookie']?.[0] ?? '', /^ab=(a|b);/);
  });

  it('splits new visitors by weight: about 90 to 10 over 400 visitors', async () => {
    let toNext = 0;
    for (let i = 0; i < 400; i++) if (origin((await t.request('/')).body) === 'next') toNext++;
    // 10% of 400 is 40, give or take 6 (one standard deviation): 20 to 60 is over 3 either way.
    assert.ok(toNext >= 20 && toNext <= 60, `expected about 40 visitors on b, found ${toNext}`);
  });
});
