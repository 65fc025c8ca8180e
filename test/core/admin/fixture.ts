// A plugin that counts requests per server in the metrics registry and shows the merged
// metrics on the stats listener at /count: enough to test aggregation without the stats plugin.
export const counterPlugin = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({
  name: 'counter',
  version: '1.0.0',
  setup(api) {
    const requests = api.metrics.counter('test_requests_total', 'requests by server');
    const workers = api.metrics.counter('test_workers_total', 'processes that served this config');
    api.hooks.app.ready.tap('counter', () => workers.inc({ pid: String(process.pid) }));
    api.hooks.http.responseSent.tap('counter', (ctx) => requests.inc({ server: ctx.server?.name ?? '-' }));
    api.hooks.http.request.tapPromise('counter', async (ctx) => {
      if (ctx.path !== '/limited') return undefined;
      const t = await api.take('limited', { limit: 10, window: 60_000 });
      return t.allowed ? undefined : { status: 429, headers: { 'retry-after': String(Math.ceil(t.retryAfter / 1000)) }, body: 'slow down' };
    });
    api.hooks.app.message.tapPromise('counter', async (topic) => (topic === 'whoami' ? process.pid : undefined));
    api.hooks.app.admin.tapPromise('counter', async (req) => {
      if (req.path === '/whoami') return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(await api.broadcast('whoami', null)) };
      if (req.path !== '/count') return undefined;
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ metrics: await req.metrics(), status: await req.status() }) };
    });
  },
});
`;

export interface Counted {
  /** Requests per server name. */
  requests: Record<string, number>;
  /** Processes whose metrics are in the answer. */
  pids: string[];
  generation: number;
  workers: number;
}

export function readCount(body: {
  metrics: { name: string; values: { labels: Record<string, string>; value: number }[] }[];
  status: { generation: number; workers: unknown[] };
}): Counted {
  const family = (name: string) => body.metrics.find((m) => m.name === name)?.values ?? [];
  return {
    requests: Object.fromEntries(family('test_requests_total').map((v) => [v.labels.server!, v.value])),
    pids: family('test_workers_total')
      .map((v) => v.labels.pid!)
      .sort(),
    generation: body.status.generation,
    workers: body.status.workers.length,
  };
}
