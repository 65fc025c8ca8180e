// Access-log fields from plugins: `ctx.setLogField(name, value)` adds to the request's
// (or TCP session's) line after the gateway's own fields; the gateway's names are refused.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { createTestGateway, type TestGateway } from '../../../sdk/testing.ts';
import { definePlugin, Stage } from '../../../sdk/index.ts';
import { HttpContext } from '../../../core/http/context.ts';

/** The access log is written once the response has finished on the gateway's side: a little after the client has it. */
async function entries(t: TestGateway, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200 && t.logs.length < n; i++) await sleep(5);
  assert.equal(t.logs.length, n, JSON.stringify(t.logs));
  return t.logs;
}

const annotate = definePlugin({
  name: 'annotate',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tap({ name: api.name, stage: Stage.ROUTE }, (ctx) => {
      if (ctx.path === '/quiet') return;
      ctx.setLogField('variant', 'b');
      ctx.setLogField('score', 0.25);
      ctx.setLogField('variant', ctx.path === '/a' ? 'a' : 'b');
      if (ctx.path === '/forge') ctx.setLogField('status', 200);
    });
    api.hooks.tcp.accept.tap(api.name, (ctx) => {
      ctx.setLogField('greeted', true);
      return undefined;
    });
  },
});

describe('access-log fields from plugins', () => {
  const open: TestGateway[] = [];
  after(() => Promise.all(open.map((t) => t.close())));

  it("appear in the request line after the gateway's own, the last value of a name winning, and only when set", async () => {
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['annotate'] } },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      plugins: { annotate },
      origins: { app: 'echo' },
    });
    open.push(t);
    assert.equal((await t.request('/a')).status, 200);
    const [line] = await entries(t, 1);
    assert.equal(line!.variant, 'a');
    assert.equal(line!.score, 0.25);
    const keys = Object.keys(line!);
    assert.deepEqual(keys.slice(-2), ['variant', 'score'], "after the gateway's fields");
    assert.equal(line!.status, 200);
    assert.equal((await t.request('/quiet')).status, 200);
    const [, quiet] = await entries(t, 2);
    assert.equal('variant' in quiet!, false);
  });

  it('may not take a name the gateway writes: the tap fails, and the line still tells the truth', async () => {
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['annotate'] } },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      plugins: { annotate },
      origins: { app: 'echo' },
    });
    open.push(t);
    assert.equal((await t.request('/forge')).status, 500);
    const [line] = await entries(t, 1);
    assert.equal(line!.status, 500);
    assert.equal(line!.termination, 'IR');
    const ctx = new HttpContext('web', 1, 'GET', '/', '1.1', {}, { address: '127.0.0.1', port: 1 }, { address: '127.0.0.1', port: 2 }, undefined, 0);
    assert.throws(() => ctx.setLogField('route', 'x'), /access-log field "route" is written by the gateway itself/);
    assert.equal(ctx.logFields, undefined, 'nothing made for a refused name');
  });

  it("appear in a TCP session's line", async () => {
    const t = await createTestGateway({
      config: {
        frontends: { raw: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'app', plugins: ['annotate'] } },
        backends: { app: { mode: 'tcp', servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      plugins: { annotate },
      origins: { app: 'echo' },
    });
    open.push(t);
    const socket = await t.tcp();
    socket.end('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n');
    await socket.toArray();
    const [line] = await entries(t, 1);
    assert.equal(line!.mode, 'tcp');
    assert.equal(line!.greeted, true);
  });
});
