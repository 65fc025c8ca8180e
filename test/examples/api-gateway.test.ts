// examples/api-gateway, run as a user runs it (its start script in a child process), step
// by step as its README walks through it: JWT, rate limit per user, rewrite, cache,
// a fixed health answer and the stats listener.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

const dir = join(root, 'examples', 'api-gateway');
const gateway = 'http://127.0.0.1:8090';
const statsUrl = 'http://127.0.0.1:8405/stats.json';

interface StatsJson {
  frontends: { name: string; sessions: { total: number }; routes: { name: string; sessions: number }[] }[];
  backends: { name: string; sessions: { total: number } }[];
}

describe('examples/api-gateway', () => {
  let example: RunningExample;
  let token = '';
  let sent = 0;
  const get = (path: string, headers: Record<string, string> = {}) => {
    sent++;
    return fetch(gateway + path, { headers });
  };
  const stats = async () => (await (await fetch(statsUrl)).json()) as StatsJson;
  const backendSessions = (s: StatsJson) => s.backends.reduce((n, b) => n + b.sessions.total, 0);

  before(async () => {
    example = await startExample(join(dir, 'start.ts'), {
      onLine: (line) => {
        const printed = /^export TOKEN=(\S+)$/.exec(line);
        if (printed) token = printed[1]!;
      },
    });
    assert.ok(token, `start.ts printed no token:\n${example.lines.join('\n')}`);
  });
  after(() => example.stop());

  it('refuses /api/ without a token with 401 and a Bearer challenge', async () => {
    const res = await get('/api/orders');
    assert.equal(res.status, 401);
    assert.equal(res.headers.get('www-authenticate'), 'Bearer realm="tapgate"');
    await res.text();
  });

  let limit = 0;
  it('passes the printed token to the orders origin at the stripped path, with the user from its sub', async () => {
    const res = await get('/api/orders', { authorization: `Bearer ${token}` });
    assert.equal(res.status, 200);
    const body = (await res.json()) as Record<string, unknown>;
    assert.deepEqual({ ...body, served_at: undefined }, { origin: 'orders', method: 'GET', path: '/orders', user: 'demo-user', served_at: undefined });
    const policy = /"api";q=(\d+);w=60/.exec(res.headers.get('ratelimit-policy') ?? '');
    assert.ok(policy, `expected the api policy, got ${res.headers.get('ratelimit-policy')}`);
    limit = Number(policy[1]);
    assert.equal(limit, 5);
  });

  it('answers 429 with Retry-After once the user has used the configured limit', async () => {
    for (let i = 1; i < limit; i++) {
      const ok = await get('/api/orders', { authorization: `Bearer ${token}` });
      assert.equal(ok.status, 200, `request ${i + 1} of ${limit}`);
      await ok.text();
    }
    const refused = await get('/api/orders', { authorization: `Bearer ${token}` });
    assert.equal(refused.status, 429);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, `Retry-After: ${refused.headers.get('retry-after')}`);
    assert.match(refused.headers.get('ratelimit') ?? '', /^"api";r=0;t=\d+$/);
    await refused.text();
  });

  it('serves /public/ from the origin once (MISS), then from the cache (HIT, same body)', async () => {
    const first = await get('/public/catalog.json');
    assert.equal(first.status, 200);
    assert.equal(first.headers.get('x-cache'), 'MISS');
    const firstBody = await first.text();
    assert.equal(JSON.parse(firstBody).origin, 'static');
    const second = await get('/public/catalog.json');
    assert.equal(second.headers.get('x-cache'), 'HIT');
    assert.equal(await second.text(), firstBody);
  });

  it('answers /health itself, without touching an origin', async () => {
    const before = backendSessions(await stats());
    const res = await get('/health');
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { status: 'ok' });
    assert.equal(backendSessions(await stats()), before);
  });

  it('sends the rest to the static origin', async () => {
    const res = await get('/index.html');
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { origin: string }).origin, 'static');
  });

  it('counts every request in /stats.json, per route', async () => {
    // Counted when the response is sent: give the last one a moment.
    let s = await stats();
    for (let i = 0; i < 20 && s.frontends[0]!.sessions.total < sent; i++) {
      await new Promise((r) => setTimeout(r, 50));
      s = await stats();
    }
    const web = s.frontends.find((f) => f.name === 'web')!;
    assert.equal(web.sessions.total, sent);
    const routes = Object.fromEntries(web.routes.map((r) => [r.name, r.sessions]));
    assert.equal(routes.api, 1 + limit + 1); // 401, the allowed ones, 429
    assert.equal(routes.public, 2);
    assert.equal(routes.health, 1);
    // The 401, the 429, the cache hit and /health never reached an origin.
    assert.equal(backendSessions(s), sent - 4);
  });
});
