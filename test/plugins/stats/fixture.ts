// A gateway with a stats listener and known traffic, and helpers to read what the stats
// plugin answers there.
import { createTestGateway, unusedPort, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';
import type { StatsReport } from '../../../plugins/stats/report.ts';

export interface StatsFixture {
  gw: TestGateway;
  a: TestOrigin;
  b: TestOrigin;
  /** `path` on the stats listener. */
  stats(path: string): Promise<Response>;
  report(): Promise<StatsReport>;
  close(): Promise<void>;
}

/**
 * Frontend `web`: routes `missing` (a 404 from `respond`), `admin` (a 403 from
 * `respond`), `broken` (backend `dead`, whose only server refuses connections), and the
 * default, backend `app`: servers a (weight 2) and b (weight 1), answering their name.
 */
export async function startStats(extra: { health?: object } = {}): Promise<StatsFixture> {
  const dead = await unusedPort();
  const gw = await createTestGateway({
    config: {
      stats: { bind: '127.0.0.1:0' },
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          routes: [
            { name: 'missing', match: { path: '/missing' }, plugins: [{ use: 'respond', options: { status: 404, body: 'not here\n' } }] },
            { name: 'admin', match: { path: '/admin' }, plugins: [{ use: 'respond', options: { status: 403, body: 'forbidden\n' } }] },
            { name: 'broken', match: { path: '/broken' }, backend: 'dead' },
          ],
        },
      },
      backends: {
        app: {
          ...(extra.health ? { health: extra.health } : {}),
          servers: [
            { name: 'a', address: 'origin:a', weight: 2 },
            { name: 'b', address: 'origin:b', weight: 1 },
          ],
        },
        dead: { servers: [{ name: 'x', address: `127.0.0.1:${dead}` }] },
      },
    },
    origins: { a: 'name', b: 'name' },
    // The page and the report read the time the stats plugin reads.
    clock: 'real',
  });
  const stats = (path: string) => fetch(`http://127.0.0.1:${gw.statsPort}${path}`);
  return {
    gw,
    a: gw.origins.a!,
    b: gw.origins.b!,
    stats,
    report: async () => (await (await stats('/stats.json')).json()) as StatsReport,
    close: () => gw.close(),
  };
}

/** 30 requests to the default route (20 to a, 10 to b), 4 to `missing`, 1 to `admin`, 1 to `broken`: 36 in all, 100 bytes of bodies. */
export async function knownTraffic(gw: TestGateway): Promise<void> {
  const get = async (path: string) => void (await (await fetch(gw.url(path))).arrayBuffer());
  for (let i = 0; i < 30; i++) await get('/');
  for (let i = 0; i < 4; i++) await get('/missing');
  await get('/admin');
  await get('/broken');
}

/** Values that change from run to run (times, pids, ports, paths), replaced by their type so the golden file pins the shape. */
const volatile = new Set([
  'generated_at',
  'pid',
  'config',
  'uptime_s',
  'since',
  'address',
  'since_s',
  'connections',
  'mean_ms',
  'p50_ms',
  'p90_ms',
  'p99_ms',
  'duration_ms',
  'at',
  'seconds',
  'mean_us',
  'p50_us',
  'p99_us',
  'calls',
]);

export function normalise(value: unknown, key = ''): unknown {
  if (volatile.has(key) && value !== null) return `<${typeof value}>`;
  if (Array.isArray(value)) return value.map((v) => normalise(v));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, normalise(v, k)]));
  return value;
}

/** Polls `probe` until it returns true, or fails after `ms`. */
export async function until(probe: () => Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
