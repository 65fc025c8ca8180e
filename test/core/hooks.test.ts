import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { once } from 'node:events';
import net from 'node:net';
import pino from 'pino';
import { startGateway, startOrigin } from '../helpers/gateway.ts';

function get(url: string): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** A plugin that appends its tag to `x-trace` on the upstream request, at a stage and optionally before another plugin. */
const tracer = (name: string, stage: string, order = '') => `
  import { definePlugin, Stage, tapOptions } from 'tapgate/sdk';
  export default definePlugin({ name: '${name}', version: '1.0.0', setup(api) {
    api.hooks.http.upstreamRequest.tapPromise(tapOptions({ name: api.name, stage: Stage.${stage}${order} }), async (ctx) => {
      ctx.upstream!.headers['x-trace'] = ((ctx.upstream!.headers['x-trace'] as string | undefined) ?? '') + '${name};';
    });
  }});`;

describe('hook contract', () => {
  it("http.accept: a tap reads the connection's addresses, and a serialized info carries all five fields", async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './seen.ts' }] } },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      {
        'seen.ts': `import { definePlugin } from 'tapgate/sdk';
          export default definePlugin({ name: 'seen', version: '1.0.0', setup(api) {
            api.hooks.http.accept.tap(api.name, (info) => {
              (globalThis as { seenAccepts?: string[] }).seenAccepts ??= [];
              (globalThis as { seenAccepts?: string[] }).seenAccepts!.push(JSON.stringify(info), [info.remoteAddress, info.remotePort, info.localAddress, info.localPort].join(' '));
            });
          }});`,
      },
    );
    try {
      const socket = net.connect(gw.port(), '127.0.0.1');
      await once(socket, 'connect');
      const clientPort = socket.localPort;
      socket.end('GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
      for await (const _ of socket);
      const [json, read] = (globalThis as { seenAccepts?: string[] }).seenAccepts!;
      assert.equal(read, `127.0.0.1 ${clientPort} 127.0.0.1 ${gw.port()}`);
      assert.deepEqual(JSON.parse(json!), {
        frontend: 'web',
        remoteAddress: '127.0.0.1',
        remotePort: clientPort,
        localAddress: '127.0.0.1',
        localPort: gw.port(),
      });
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('runs taps by stage, then by before: and after:, whatever the order plugins are listed in', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway(
      {
        plugins: [{ use: './observe.ts' }],
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            plugins: [{ use: './late.ts' }, { use: './cache.ts' }, { use: './auth.ts' }, { use: './first.ts' }],
          },
        },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      {
        'observe.ts': tracer('observe', 'OBSERVE'),
        'cache.ts': tracer('cache', 'CACHE'),
        'auth.ts': tracer('auth', 'AUTH'),
        'first.ts': tracer('first', 'AUTH', ", before: 'auth'"),
        'late.ts': tracer('late', 'AUTH', ", after: 'auth'"),
      },
    );
    try {
      await get(gw.url());
      assert.equal(origin.requests[0]!.headers['x-trace'], 'first;auth;late;cache;observe;');
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('applies gateway-wide plugins to every frontend and a frontend plugin to its own only', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway(
      {
        plugins: [{ use: './everywhere.ts' }],
        frontends: {
          one: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './only-one.ts' }] },
          two: { bind: '127.0.0.1:0', default_backend: 'app' },
        },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'everywhere.ts': tracer('everywhere', 'ROUTE'), 'only-one.ts': tracer('only-one', 'ROUTE') },
    );
    try {
      await get(gw.url('/', 'one'));
      await get(gw.url('/', 'two'));
      assert.deepEqual(
        origin.requests.map((r) => r.headers['x-trace']),
        ['everywhere;only-one;', 'everywhere;'],
      );
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('contains an observer that throws: the response is unharmed, the error is reported with the plugin name', async () => {
    const origin = await startOrigin('o');
    const plugin = `
      import { definePlugin } from 'tapgate/sdk';
      export default definePlugin({ name: 'clumsy', version: '1.0.0', setup(api) {
        api.hooks.http.responseSent.tap(api.name, () => { throw new Error('observer broke'); });
      }});`;
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './clumsy.ts' }] } },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'clumsy.ts': plugin },
    );
    try {
      const reported = new Promise<{ plugin?: string; hook?: string }>((resolve) => gw.gateway.generation.app.error.tap('test', resolve));
      assert.equal((await get(gw.url())).status, 200);
      const e = await reported;
      assert.equal(e.plugin, 'clumsy');
      assert.equal(e.hook, 'http.responseSent');
      assert.equal((await get(gw.url())).status, 200);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('contains an app.error tap that throws: its failure is logged, not given back to it, and requests go on', { timeout: 15_000 }, async () => {
    const origin = await startOrigin('o');
    const plugin = `
      import { definePlugin } from 'tapgate/sdk';
      export default definePlugin({ name: 'fragile', version: '1.0.0', setup(api) {
        api.hooks.http.responseSent.tap(api.name, () => { throw new Error('observer broke'); });
        api.hooks.app.error.tap(api.name, () => { throw new Error('error tap broke too'); });
      }});`;
    const logged: { hook?: string; plugin?: string }[] = [];
    const logger = pino({ level: 'error' }, { write: (line: string) => void logged.push(JSON.parse(line)) });
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './fragile.ts' }] } },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'fragile.ts': plugin },
      { logger },
    );
    try {
      const seen: string[] = [];
      const reported = new Promise<void>((resolve) => gw.gateway.generation.app.error.tap('test', (e) => void (seen.push(`${e.plugin} ${e.hook}`), resolve())));
      assert.equal((await get(gw.url())).status, 200);
      await reported;
      assert.deepEqual(seen, ['fragile http.responseSent'], 'the error tap failing is not an error for the error taps');
      assert.deepEqual(
        logged.map((l) => `${l.plugin} ${l.hook}`),
        ['fragile http.responseSent', 'fragile app.error'],
      );
      assert.equal((await get(gw.url())).status, 200);
    } finally {
      await gw.close();
      await origin.close();
    }
  });

  it('calls setup, boot and ready once per generation, and dispose when the gateway stops', async () => {
    const origin = await startOrigin('o');
    const events: string[] = [];
    (globalThis as { lifeEvents?: string[] }).lifeEvents = events;
    const plugin = `
      import { definePlugin } from 'tapgate/sdk';
      export default definePlugin({ name: 'life', version: '1.0.0', setup(api) {
        const log = (s: string) => (globalThis as any).lifeEvents.push(s);
        log('setup');
        api.hooks.app.boot.tapPromise(api.name, async (g) => log('boot ' + g.id));
        api.hooks.app.ready.tap(api.name, (g) => log('ready ' + g.id));
        return () => log('dispose');
      }});`;
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: './life.ts' }] } },
        backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
      },
      { 'life.ts': plugin },
    );
    assert.deepEqual(events, ['setup', 'boot 1', 'ready 1']);
    await gw.close();
    await origin.close();
    assert.deepEqual(events, ['setup', 'boot 1', 'ready 1', 'dispose']);
  });
});
