// A hostile corpus (test/core/hostile-corpus.ts: malformed heads, smuggling shapes,
// broken chunked bodies, uploads given up on) against a real master with two workers and
// async taps on every hook of a request's path: no worker dies, each request is refused
// with its own 4xx (or closed when nobody is left to read one), a normal request is
// served right after each, and the healthy server is neither charged nor ejected.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { freePort, startOrigin, type TestOrigin } from '../helpers/gateway.ts';
import { startMaster, type TestMaster } from '../helpers/master.ts';
import { hostileCorpus, type HostileCase } from './hostile-corpus.ts';

/** Async taps on every hook a request goes through, each awaiting a turn of the event loop. */
const asyncTaps = `import { definePlugin } from 'tapgate/sdk';
const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
export default definePlugin({ name: 'async-everywhere', setup(api) {
  const h = api.hooks.http;
  h.received.tapPromise(api.name, async () => { await turn(); });
  h.request.tapPromise(api.name, async () => { await turn(); });
  h.upstreamRequest.tapPromise(api.name, async () => { await turn(); });
  h.upstreamResponse.tapPromise(api.name, async () => { await turn(); });
  h.errorResponse.tapPromise(api.name, async () => { await turn(); });
}});`;

/** Sends a case, finishes it as it says, and resolves with the statuses that came back before the gateway closed. */
function send(port: number, c: HostileCase): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = '';
    const guard = setTimeout(() => {
      socket.destroy();
      reject(new Error(`${c.name}: the gateway neither answered nor closed in 5 s; got ${JSON.stringify(got)}`));
    }, 5000);
    socket.setEncoding('latin1');
    socket.on('connect', () => {
      socket.write(c.bytes);
      if (c.then === 'end') socket.end();
      if (c.then === 'reset') setImmediate(() => socket.resetAndDestroy());
    });
    socket.on('data', (d: string) => (got += d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(guard);
      resolve([...got.matchAll(/(?:^|\r\n)HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1])).filter((s) => s !== 100));
    });
  });
}

function normalRequest(port: number): Promise<number> {
  return send(port, { name: 'a normal request', bytes: 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', status: 200 }).then((s) => s[0] ?? 0);
}

describe('a hostile corpus against two workers with async taps', () => {
  let origin: TestOrigin;
  let master: TestMaster;
  let web: number;
  let stats: number;

  before(async () => {
    origin = await startOrigin('o');
    web = await freePort();
    stats = await freePort();
    master = await startMaster(
      `
workers: 2
log: { level: warn, access: false }
hard_stop_after: 2s
stats: { bind: 127.0.0.1:${stats} }
frontends:
  web:
    bind: 127.0.0.1:${web}
    default_backend: app
    timeouts: { client: 300ms, client_headers: 300ms }
    limits: { max_body_size: 8k }
    plugins:
      - { use: rate-limit, options: { limit: "100000 per 1m" } }
      - ./async-everywhere.ts
backends:
  app:
    passive: { consecutive_errors: 3, eject_for: 60s }
    servers:
      - { name: o, address: ${origin.address} }
`,
      { 'async-everywhere.ts': asyncTaps },
    );
  });

  after(async () => {
    await master?.stop(true);
    await origin.close();
  });

  it('refuses each malformed request with its own answer, serves the next, and no worker dies', async () => {
    const workers = (await master.status()).workers.map((w) => w.pid).sort();
    assert.equal(workers.length, 2);
    for (const c of hostileCorpus) {
      const want = typeof c.status === 'number' ? (c.status ? [c.status] : []) : [...c.status];
      // A reset may overtake the answer already on its way: nothing, or the answer, are both right then.
      const got = await send(web, c);
      if (c.then === 'reset') assert.ok(got.length === 0 || got.every((s) => s >= 400 && s < 500), `${c.name}: ${got}`);
      else assert.deepEqual(got, want, c.name);
      assert.equal(await normalRequest(web), 200, `a normal request after "${c.name}"`);
    }
    const after = await master.status();
    assert.deepEqual(after.workers.map((w) => w.pid).sort(), workers, 'the same two workers serve: none died');
    assert.ok(
      !master.log.some((l) => /uncaught|unhandled|died unexpectedly/i.test(l)),
      master.log.filter((l) => /uncaught|unhandled|died/i.test(l)).join('\n'),
    );
  });

  it('charges the healthy server nothing and ejects it never', async () => {
    const res = await fetch(`http://127.0.0.1:${stats}/stats.json`);
    const report = (await res.json()) as {
      backends: {
        name: string;
        servers: {
          name: string;
          status: string;
          errors: { connection: number; response: number };
          responses: Record<string, number>;
          passive: { ejections: number };
        }[];
      }[];
    };
    const server = report.backends.find((b) => b.name === 'app')!.servers[0]!;
    assert.deepEqual(server.errors, { connection: 0, response: 0 });
    assert.equal(server.responses['5xx'], 0);
    assert.equal(server.status, 'UP');
    assert.equal(server.passive.ejections, 0);
    // Only well-formed requests reached it: the normal ones and the pipelined good ones (and perhaps uploads given up on mid-body).
    const reached = new Set(origin.requests.map((r) => r.url));
    assert.ok(reached.has('/ok'));
    assert.deepEqual(
      [...reached].filter((u) => u !== '/ok' && u !== '/upload'),
      [],
    );
  });
});
