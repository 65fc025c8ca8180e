// TCP sessions through a real gateway: counted when both sides have closed, with their
// bytes, connect times and failed connections.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';
import type { StatsReport } from '../../../plugins/stats/report.ts';
import { until } from './fixture.ts';

/** Sends `text`, reads the echo, closes; resolves with what came back once the socket has closed (reset or not). */
function echoSession(port: number, text: string): Promise<string> {
  return new Promise((resolve) => {
    let got = '';
    const s = net.connect(port, '127.0.0.1', () => s.write(text));
    s.setEncoding('utf8');
    s.on('data', (d: string) => {
      got += d;
      if (got.length >= text.length) s.end();
    });
    s.on('close', () => resolve(got));
    s.on('error', () => undefined);
  });
}

describe('stats plugin: TCP sessions', () => {
  let gw: TestGateway;
  const report = async () => (await (await fetch(`http://127.0.0.1:${gw.statsPort}/stats.json`)).json()) as StatsReport;

  before(async () => {
    gw = await createTestGateway({
      config: {
        stats: { bind: '127.0.0.1:0' },
        frontends: {
          echo: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'echo' },
          nowhere: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'nowhere' },
        },
        backends: {
          echo: { servers: [{ name: 'e1', address: 'origin:echo' }] },
          // Port 1 (tcpmux): nobody listens there. A port found free and let go could be the echo origin's next.
          nowhere: { retries: 1, servers: [{ name: 'n1', address: '127.0.0.1:1' }] },
        },
      },
      origins: { echo: { tcp: (s) => s.pipe(s) } },
    });
  });
  after(() => gw?.close());

  it('counts sessions, bytes both ways and connect times once both sides closed', async () => {
    for (const text of ['hello', 'tapgate', 'stats!']) assert.equal(await echoSession(gw.port('echo'), text), text);
    await until(async () => (await report()).frontends[0]!.sessions.total === 3, 5000, 'three sessions counted');
    const r = await report();
    const fe = r.frontends.find((f) => f.name === 'echo')!;
    assert.equal(fe.mode, 'tcp');
    assert.deepEqual(fe.sessions, { current: 0, max: 1, total: 3 });
    assert.equal(fe.connections, 3);
    assert.deepEqual(fe.bytes, { in: 18, out: 18 });
    assert.equal(fe.errors, 0);
    const be = r.backends.find((b) => b.name === 'echo')!;
    assert.equal(be.mode, 'tcp');
    assert.deepEqual(be.sessions, { current: 0, max: 1, total: 3 });
    assert.deepEqual(be.bytes, { in: 18, out: 18 });
    assert.equal(be.latency.connect.count, 3);
    assert.equal(be.latency.total.count, 3);
    assert.equal(be.latency.ttfb.count, 0);
    const e1 = be.servers[0]!;
    assert.deepEqual(
      { sessions: e1.sessions.total, bytes: e1.bytes, connect: e1.latency.connect.count },
      { sessions: 3, bytes: { in: 18, out: 18 }, connect: 3 },
    );
  });

  it('counts a session whose server cannot be reached as connection errors and a retry', async () => {
    assert.equal(await echoSession(gw.port('nowhere'), 'x'), '');
    await until(async () => (await report()).frontends.find((f) => f.name === 'nowhere')!.sessions.total === 1, 5000, 'the failed session counted');
    const r = await report();
    const fe = r.frontends.find((f) => f.name === 'nowhere')!;
    assert.deepEqual({ sessions: fe.sessions, errors: fe.errors }, { sessions: { current: 0, max: 0, total: 1 }, errors: 1 });
    const be = r.backends.find((b) => b.name === 'nowhere')!;
    assert.deepEqual(
      { retries: be.retries, errors: be.errors, connect: be.latency.connect.count },
      { retries: 1, errors: { connection: 2, response: 0 }, connect: 0 },
    );
    assert.deepEqual(be.servers[0]!.errors, { connection: 2, response: 0 }, 'both tries, on the one server there is');
  });
});
