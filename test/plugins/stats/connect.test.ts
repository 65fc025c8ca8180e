// HTTP connect latency: every new pooled connection to a server is timed (app.upstreamConnected).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createTestGateway } from 'tapgate/sdk/testing';

describe('stats: HTTP connect time', () => {
  it('observes one connect time per new upstream connection, none for reused ones', async () => {
    const gw = await createTestGateway({
      config: {
        stats: { bind: '127.0.0.1:0' },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: { app: { servers: [{ name: 's', address: 'origin:o' }] } },
      },
      origins: { o: 'name' },
    });
    const origin = gw.origins.o!;
    try {
      for (let i = 0; i < 10; i++) await (await fetch(gw.url('/'))).text();
      const metrics = await (await fetch(`http://127.0.0.1:${gw.statsPort}/metrics`)).text();
      const count = Number(/^tapgate_server_connect_seconds_count\{backend="app",server="s"\} (\d+)$/m.exec(metrics)?.[1]);
      assert.equal(count, origin.connections, `one observation per connection the origin accepted (${origin.connections})`);
      assert.ok(count >= 1 && count < 10, 'keep-alive reused connections');
    } finally {
      await gw.close();
    }
  });
});
