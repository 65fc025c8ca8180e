// The rate-limit plugin in one process: the local store on a fake clock (exact windows,
// slides and refills), the shared store (api.take), keys by address, header, claim and
// API key, route scope, headers on and off, a store that stops answering, bad options.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway, type TestGatewayOptions, type TestGateway } from 'tapgate/sdk/testing';
import { get, statuses, webConfig, whoPlugin } from './fixture.ts';

describe('rate-limit in one process', () => {
  const open: TestGateway[] = [];
  /** A gateway in front of origin `a`, its clock at the start of a 10 s window (and of every shorter one). */
  const start = async (plugins: unknown[], more: Record<string, unknown> = {}, take?: TestGatewayOptions['take']) => {
    const g = await createTestGateway({
      config: webConfig(plugins, more),
      origins: { a: 'name' },
      files: { 'who.ts': whoPlugin },
      clock: { start: 1_800_000_000_000 },
      take,
    });
    open.push(g);
    return g;
  };
  after(async () => {
    for (const g of open) await g.close();
  });

  it('lets `limit` requests through in a window, then answers 429 with Retry-After and the RateLimit fields', async () => {
    const g = await start([{ use: 'rate-limit', options: { limit: 3, window: '10s', store: 'local' } }]);
    const seen = g.origins.a!.requests.length;
    for (const r of [2, 1, 0]) {
      const res = await get(g.url());
      assert.equal(res.status, 200);
      assert.equal(res.policy, '"default";q=3;w=10');
      // With nothing left, t is when one more fits: the window's end, then a third of the next (3 × (1 - 1/3) + 1 = 3).
      assert.equal(res.limit, `"default";r=${r};t=${r > 0 ? 10 : 14}`);
      assert.equal(res.retryAfter, null);
    }
    const refused = await get(g.url());
    assert.deepEqual(refused, { status: 429, policy: '"default";q=3;w=10', limit: '"default";r=0;t=14', retryAfter: '14', body: 'Too Many Requests\n' });
    assert.equal(g.origins.a!.requests.length, seen + 3, 'the refused request never reached the server');
  });

  it('slides: half a window on, the previous window still counts for half', async () => {
    const g = await start([{ use: 'rate-limit', options: { limit: '3 per 10s', store: 'local' } }]);
    assert.deepEqual(await statuses(4, g.url()), [200, 200, 200, 429]);
    g.clock.advance(15_000); // 3 × (1 - 0.5) = 1.5 used
    const one = await get(g.url());
    assert.equal(one.status, 200);
    assert.equal(one.limit, '"default";r=0;t=5');
    const refused = await get(g.url()); // 1.5 + 1 + 1 > 3; fits again once the old window weighs 1.5 less... 1/6 of it: 1.67 s
    assert.equal(refused.status, 429);
    assert.equal(refused.retryAfter, '2');
    g.clock.advance(1_700);
    assert.equal((await get(g.url())).status, 200);
    g.clock.advance(30_000); // two windows on: nothing counts
    assert.deepEqual(await statuses(4, g.url()), [200, 200, 200, 429]);
  });

  it('a token bucket lets a burst through, then one request per refill', async () => {
    const g = await start([{ use: 'rate-limit', options: { algorithm: 'token_bucket', rate: '1 per 1s', burst: 2 } }]);
    const first = await get(g.url());
    assert.equal(first.policy, '"default";q=2;w=2');
    assert.equal(first.limit, '"default";r=1;t=1');
    assert.equal((await get(g.url())).limit, '"default";r=0;t=2');
    const refused = await get(g.url());
    assert.equal(refused.status, 429);
    assert.equal(refused.retryAfter, '1');
    g.clock.advance(1_000);
    assert.deepEqual(await statuses(2, g.url()), [200, 429]);
    g.clock.advance(10_000); // full again, never more than the burst
    assert.deepEqual(await statuses(3, g.url()), [200, 200, 429]);
  });

  it('the shared store (api.take, the default) counts exactly in one process', async () => {
    const g = await start([{ use: 'rate-limit', options: { limit: '5 per 1h', policy: 'shared-exact' } }]);
    const remaining: string[] = [];
    for (let i = 0; i < 5; i++) {
      const res = await get(g.url());
      assert.equal(res.status, 200);
      assert.equal(res.policy, '"shared-exact";q=5;w=3600');
      remaining.push(/^"shared-exact";r=(\d+);t=(\d+)$/.exec(res.limit ?? '')?.[1] ?? `bad: ${res.limit}`);
    }
    assert.deepEqual(remaining, ['4', '3', '2', '1', '0']);
    const refused = await get(g.url());
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.retryAfter) >= 1 && Number(refused.retryAfter) <= 7200, String(refused.retryAfter));
    assert.equal(refused.limit, `"shared-exact";r=0;t=${refused.retryAfter}`);
  });

  it('keys by header: each value has its own budget; requests without it share one', async () => {
    const g = await start([{ use: 'rate-limit', options: { key: { header: 'X-User' }, limit: '2 per 1h', store: 'local' } }]);
    assert.deepEqual(await statuses(3, g.url(), { 'x-user': 'alice' }), [200, 200, 429]);
    assert.deepEqual(await statuses(3, g.url(), { 'x-user': 'bob' }), [200, 200, 429]);
    assert.deepEqual(await statuses(3, g.url()), [200, 200, 429], 'missing: limit (the default) puts them in one bucket');
  });

  it('with `missing: allow`, requests without the key pass uncounted and without RateLimit fields', async () => {
    const g = await start([{ use: 'rate-limit', options: { key: { header: 'x-user' }, missing: 'allow', limit: '1 per 1h', store: 'local' } }]);
    const res = await get(g.url());
    assert.equal(res.status, 200);
    assert.equal(res.limit, null);
    assert.deepEqual(await statuses(5, g.url()), [200, 200, 200, 200, 200]);
    assert.deepEqual(await statuses(2, g.url(), { 'x-user': 'carol' }), [200, 429]);
  });

  it('keys by a JWT claim that an authentication plugin put in ctx.state.claims', async () => {
    const g = await start(['./who.ts', { use: 'rate-limit', options: { key: { claim: 'sub' }, limit: '2 per 1h', store: 'local' } }]);
    assert.deepEqual(await statuses(3, g.url(), { 'x-sub': 'user-1' }), [200, 200, 429]);
    assert.deepEqual(await statuses(3, g.url(), { 'x-sub': 'user-2' }), [200, 200, 429]);
    // A number claim is a key too.
    const byOrg = await start(['./who.ts', { use: 'rate-limit', options: { key: { claim: 'org' }, missing: 'allow', limit: '1 per 1h', store: 'local' } }]);
    assert.deepEqual(await statuses(2, byOrg.url(), { 'x-sub': 'u', 'x-org': '7' }), [200, 429]);
    assert.deepEqual(await statuses(2, byOrg.url(), { 'x-sub': 'u' }), [200, 200], 'no org claim: allowed');
  });

  it("keys by API key: the api-key plugin's name, as a record or bare", async () => {
    const g = await start(['./who.ts', { use: 'rate-limit', options: { key: 'api_key', limit: '2 per 1h', store: 'local' } }]);
    assert.deepEqual(await statuses(2, g.url(), { 'x-key': 'team-a' }), [200, 200]);
    assert.equal((await get(g.url(), { 'x-key': 'name:team-a' })).status, 429, '{ name } and the bare name are the same key');
    assert.deepEqual(await statuses(3, g.url(), { 'x-key': 'team-b' }), [200, 200, 429]);
  });

  it('a combined key counts each pair apart', async () => {
    const g = await start([{ use: 'rate-limit', options: { key: ['client_ip', { header: 'x-tenant' }], limit: '1 per 1h', store: 'local' } }]);
    assert.deepEqual(await statuses(2, g.url(), { 'x-tenant': 'a:b' }), [200, 429]);
    assert.deepEqual(await statuses(2, g.url(), { 'x-tenant': 'a' }), [200, 429]);
    assert.deepEqual(await statuses(2, g.url(), { 'x-tenant': 'b' }), [200, 429]);
  });

  it("on a route, limits that route only, and a frontend's and a route's policies add up in the fields", async () => {
    const g = await start([{ use: 'rate-limit', options: { limit: '100 per 1h', store: 'local', policy: 'site' } }], {
      routes: [{ name: 'api', match: { path: '/api/' }, plugins: [{ use: 'rate-limit', options: { limit: '2 per 1m', store: 'local', policy: 'api' } }] }],
    });
    const api = await get(g.url('/api/x'));
    assert.equal(api.policy, '"site";q=100;w=3600, "api";q=2;w=60');
    assert.match(api.limit ?? '', /^"site";r=99;t=\d+, "api";r=1;t=\d+$/);
    assert.deepEqual(await statuses(2, g.url('/api/x')), [200, 429]);
    assert.deepEqual(await statuses(3, g.url('/other')), [200, 200, 200]);
    assert.equal((await get(g.url('/other'))).policy, '"site";q=100;w=3600');
  });

  it('with `headers: false`, allowed responses carry no RateLimit fields; a refusal still does', async () => {
    const g = await start([{ use: 'rate-limit', options: { limit: '1 per 10s', store: 'local', headers: false } }]);
    const ok = await get(g.url());
    assert.deepEqual([ok.status, ok.policy, ok.limit], [200, null, null]);
    const refused = await get(g.url());
    // One per window: the next fits once the previous window weighs nothing, at the end of the next one.
    assert.deepEqual([refused.status, refused.policy, refused.retryAfter], [429, '"default";q=1;w=10', '20']);
  });

  it('when the shared store does not answer, requests pass (after `timeout`, then at once for a second)', async () => {
    // The master is gone: the shared store never answers.
    const g = await start(
      [{ use: 'rate-limit', options: { limit: '1 per 1h', policy: 'silent-master', timeout: '100ms' } }],
      {},
      () => new Promise(() => undefined),
    );
    const t0 = performance.now();
    const first = await get(g.url());
    const waited = performance.now() - t0;
    assert.deepEqual([first.status, first.limit], [200, null]);
    assert.ok(waited >= 90, `waited ${waited} ms for the store`);
    const t1 = performance.now();
    assert.deepEqual(await statuses(5, g.url()), [200, 200, 200, 200, 200]);
    assert.ok(performance.now() - t1 < 400, 'while it is failing, requests do not wait for it');
  });

  it('refuses options that do not make a limit, saying what to write', async () => {
    const refused = async (options: object, pattern: RegExp) => {
      await assert.rejects(() => createTestGateway({ config: webConfig([{ use: 'rate-limit', options }]), origins: { a: 'name' } }), pattern);
    };
    await refused({}, /options: plugin "rate-limit" options: expected a limit: `limit: "100 per 1m"`/);
    await refused({ limit: 10 }, /options: plugin "rate-limit" options: expected a window with a numeric limit/);
    await refused({ limit: 'ten a minute' }, /options\.limit: .*expected "<count> per <duration>"/);
    await refused({ algorithm: 'token_bucket', rate: 5, store: 'shared' }, /options\.store: .*the shared store \(api.take\) counts sliding windows only/);
    await refused({ algorithm: 'token_bucket', limit: 5, rate: 5 }, /options\.limit: .*`limit` is for algorithm: sliding_window/);
    await refused({ limit: '5 per 1m', redis: { url: 'redis://x' } }, /options\.redis: .*`redis` settings need `store: redis`/);
    await refused({ limit: '5 per 1m', key: { header: 'bad header' } }, /options\.key\.header: .*expected a header name, found "bad header"/);
  });
});
