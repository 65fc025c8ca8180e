// The Redis store: a real redis-server started here, two gateway processes' worth of
// gateways (each its own store and connection) sharing it. Redis must be installed
// (`.ci/run` installs it): without it this test fails, saying so; it never skips.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createTestGateway, unusedPort, type TestGateway } from 'tapgate/sdk/testing';
import { get, webConfig } from './fixture.ts';

/** redis-server on 127.0.0.1:`port`, nothing saved to disk; resolves once it accepts connections. */
async function startRedis(port: number): Promise<ChildProcess> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error('redis-server is not installed; these tests need it: apt-get install -y redis-server (.ci/run installs it)');
  }
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let said = '';
  child.stdout!.on('data', (d) => (said += d));
  child.stderr!.on('data', (d) => (said += d));
  for (let i = 0; !said.includes('Ready to accept connections'); i++) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}:\n${said}`);
    if (i > 100) throw new Error(`redis-server did not start in 5 s:\n${said}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return child;
}

async function stopRedis(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGKILL');
  await once(child, 'exit');
}

describe('rate-limit with store: redis, across two gateways', () => {
  let port: number;
  let redis: ChildProcess;
  const open: TestGateway[] = [];
  /** Two gateways with the same config, as on two machines. */
  const pair = async (options: object) => {
    const config = webConfig([{ use: 'rate-limit', options: { store: 'redis', redis: { url: `redis://127.0.0.1:${port}` }, ...options } }]);
    // The real clock: a store that failed is asked again a second later.
    const two = [
      await createTestGateway({ config, origins: { a: 'name' }, clock: 'real' }),
      await createTestGateway({ config, origins: { a: 'name' }, clock: 'real' }),
    ];
    open.push(...two);
    return two;
  };
  before(async () => {
    port = await unusedPort();
    redis = await startRedis(port);
  });
  after(async () => {
    for (const g of open) await g.close();
    await stopRedis(redis);
  });

  it('a limit of 10 holds across both: exactly 10 of 30 requests pass, alternating gateways', async () => {
    const [a, b] = await pair({ limit: 10, window: '1h', policy: 'both' });
    const seen = [];
    for (let i = 0; i < 30; i++) seen.push(await get((i % 2 ? b! : a!).url()));
    assert.deepEqual(
      seen.map((s) => s.status),
      [...Array(10).fill(200), ...Array(20).fill(429)],
    );
    assert.deepEqual(
      seen.slice(0, 10).map((s) => /r=(\d+)/.exec(s.limit ?? '')?.[1]),
      ['9', '8', '7', '6', '5', '4', '3', '2', '1', '0'],
      'one count, whichever gateway answers',
    );
    assert.equal(seen[0]!.policy, '"both";q=10;w=3600');
    assert.equal(seen[10]!.limit, `"both";r=0;t=${seen[10]!.retryAfter}`);
  });

  it('a token bucket holds across both: a burst of 5, then nothing until it refills', async () => {
    const [a, b] = await pair({ algorithm: 'token_bucket', rate: '1 per 1h', burst: 5, policy: 'bucket' });
    const seen = [];
    for (let i = 0; i < 12; i++) seen.push(await get((i % 2 ? b! : a!).url()));
    assert.deepEqual(
      seen.map((s) => s.status),
      [...Array(5).fill(200), ...Array(7).fill(429)],
    );
    assert.equal(seen[0]!.policy, '"bucket";q=5;w=18000');
    assert.equal(seen[5]!.retryAfter, '3600');
  });

  it('when Redis goes away, requests pass; when it is back, limits apply again', async () => {
    const [a] = await pair({ limit: 1, window: '1h', policy: 'outage', timeout: '200ms' });
    assert.equal((await get(a!.url())).status, 200);
    assert.equal((await get(a!.url())).status, 429);
    await stopRedis(redis);
    for (let i = 0; i < 3; i++) {
      const res = await get(a!.url());
      assert.deepEqual([res.status, res.limit], [200, null], 'fail open, no RateLimit fields');
    }
    redis = await startRedis(port); // empty: the count starts again
    let back;
    for (let i = 0; i < 100; i++) {
      back = await get(a!.url());
      if (back.limit !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(back!.limit ?? '', /^"outage";r=0;t=\d+$/, 'counted again once reconnected');
    assert.equal((await get(a!.url())).status, 429);
  });
});
