// `api.fetch` on real loopback servers: a backend by name (balanced, retried on another
// server, counted, TLS, HTTP/2), a URL (only the origins the configuration names unless
// allowed), a subrequest through a frontend (its TLS facts kept, loops cut), and the
// limits: timeout, abort, body size. Failures reject with a FetchError and the worker
// keeps serving.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { FetchError, type FetchResponse, type PluginApi } from '../../../sdk/index.ts';
import type { Backend } from '../../../core/upstream/backend.ts';
import { deadPort, get, startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { testPki } from '../tls/pki.ts';
import { httpsGet, startHttpsOrigin, type TestServer } from '../tls/client.ts';

const pki = testPki();
const apis: PluginApi[] = [];
(globalThis as { __fetchApis?: PluginApi[] }).__fetchApis = apis;

/**
 * Keeps its api for the tests, and on requests: `/fetch-missing` awaits a fetch that fails
 * (uncaught), `/sub` answers with a subrequest to `/echo` through its own frontend,
 * `/loop` with one to `/loop` (each level wraps the answer of the one below).
 */
const fetcher = `export default {
  name: 'fetcher', version: '1.0.0',
  setup(api) {
    globalThis.__fetchApis.push(api);
    api.hooks.http.request.tapPromise('fetcher', async (ctx) => {
      if (ctx.path === '/fetch-missing') await api.fetch({ backend: 'missing', path: '/' });
      if (ctx.path === '/sub') {
        const r = await api.fetch({ frontend: ctx.frontend, path: '/echo?sub=1', from: ctx, headers: { 'x-sub': 'yes' } });
        return { status: 200, headers: { 'content-type': 'application/json', 'x-sub-status': String(r.status) }, body: r.body };
      }
      if (ctx.path === '/loop') {
        try {
          const r = await api.fetch({ frontend: ctx.frontend, path: '/loop', from: ctx });
          return { status: 200, body: 'level+' + r.text() };
        } catch (err) {
          return { status: 508, body: err.code };
        }
      }
    });
  },
};`;

/** An origin answering by path: /echo (what it was sent, as JSON), /big (2000 bytes), /hang (never), /error (500), /reset (cut mid-body). */
function handler(name: string): http.RequestListener {
  return (req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (d: string) => (body += d));
    req.on('end', () => {
      const path = req.url!.split('?')[0];
      if (path === '/hang') return;
      if (path === '/big') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('x'.repeat(2000));
      if (path === '/error') return void res.writeHead(500, { 'content-type': 'text/plain' }).end('broken inside');
      if (path === '/reset') {
        res.writeHead(200, { 'content-length': '100' });
        res.write('partial');
        return void setImmediate(() => req.socket.destroy());
      }
      res.writeHead(200, { 'content-type': 'application/json', 'X-Origin': name, 'set-cookie': ['a=1', 'b=2'] });
      res.end(JSON.stringify({ origin: name, method: req.method, url: req.url, headers: req.headers, body }));
    });
  };
}

describe('api.fetch', () => {
  let origin: TestOrigin;
  let other: TestOrigin;
  let secure: TestServer;
  let h2: http2.Http2Server;
  let gw: TestGateway;
  let api: PluginApi;
  let dead: number;

  before(async () => {
    origin = await startOrigin('origin', handler('origin'));
    other = await startOrigin('other', handler('other'));
    secure = await startHttpsOrigin('secure', pki.origin);
    h2 = http2.createServer((req, res) => res.writeHead(200, { 'x-proto': req.httpVersion }).end('over h2'));
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    dead = await deadPort();
    gw = await startGateway(
      {
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            tls: { certificates: [{ cert: 'gw.pem', key: 'gw.key' }] },
            plugins: [{ use: './fetcher.ts', options: { service: `http://127.0.0.1:${other.port}/named?x=1` } }],
          },
        },
        backends: {
          app: { servers: [{ name: 'a', address: origin.address }] },
          pair: {
            balance: 'first',
            retries: 1,
            servers: [
              { name: 'dead', address: `127.0.0.1:${dead}` },
              { name: 'live', address: origin.address },
            ],
          },
          gone: { retries: 0, servers: [{ name: 'dead', address: `127.0.0.1:${dead}` }] },
          tls: { servers: [{ name: 's', address: secure.address, ssl: true, ca: 'ca.pem' }] },
          h2: { protocol: 'h2', servers: [{ name: 'h', address: `127.0.0.1:${(h2.address() as AddressInfo).port}` }] },
        },
      },
      { 'gw.pem': pki.origin.cert, 'gw.key': pki.origin.key, 'ca.pem': pki.ca.cert, 'fetcher.ts': fetcher },
    );
    api = apis.at(-1)!;
  });
  after(async () => {
    await gw?.close();
    await Promise.all([origin?.close(), other?.close(), secure?.close()]);
    h2?.close();
  });

  const rejected = async (p: Promise<FetchResponse>, code: string): Promise<FetchError> => {
    const err = await p.then(
      () => assert.fail(`resolved; expected ${code}`),
      (e: unknown) => e,
    );
    assert.ok(err instanceof FetchError, `a FetchError, not ${String(err)}`);
    assert.equal(err.code, code, err.message);
    return err;
  };
  const backend = (name: string) => gw.gateway.generation.backends.get(name) as Backend;

  it('a backend by name: its server answers whole, headers lower-cased, and the request counts on the server', async () => {
    const server = backend('app').servers[0]!;
    const before = server.total;
    const r = await api.fetch({ backend: 'app', path: '/echo?q=1', method: 'POST', body: 'hello', headers: { 'X-Asked': 'yes', connection: 'close' } });
    assert.equal(r.status, 200);
    assert.equal(r.server, 'app/a');
    assert.equal(r.headers['x-origin'], 'origin');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    const seen = r.json<{ method: string; url: string; body: string; headers: Record<string, string> }>();
    assert.equal(seen.method, 'POST');
    assert.equal(seen.url, '/echo?q=1');
    assert.equal(seen.body, 'hello');
    assert.equal(seen.headers['x-asked'], 'yes');
    assert.equal(seen.headers['content-length'], '5');
    assert.notEqual(seen.headers.connection, 'close', "the connection's fields are the pool's");
    assert.equal(server.total, before + 1);
    assert.equal(server.active, 0);
  });

  it('a server that cannot be reached: the next try goes to another, and the failure counts against it', async () => {
    const [deadServer] = backend('pair').servers;
    const r = await api.fetch({ backend: 'pair', path: '/echo' });
    assert.equal(r.status, 200);
    assert.equal(r.server, 'pair/live');
    assert.equal(deadServer!.health.consecutiveErrors, 1);
    const err = await rejected(api.fetch({ backend: 'gone', path: '/' }), 'CONNECT');
    assert.match(err.message, /ECONNREFUSED/);
    await rejected(api.fetch({ backend: 'nope', path: '/' }), 'UNKNOWN');
  });

  it('a backend with ssl: TLS verified with its CA; with protocol: h2, HTTP/2', async () => {
    const r = await api.fetch({ backend: 'tls', path: '/' });
    assert.equal(r.status, 200);
    assert.equal(r.text(), 'secure');
    const two = await api.fetch({ backend: 'h2', path: '/' });
    assert.equal(two.text(), 'over h2');
    assert.equal(two.headers['x-proto'], '2.0');
  });

  it("a URL named in the plugin's options, or a server's address, is fetched; any other (loopback too) only with allow: 'any'", async () => {
    const named = await api.fetch({ url: `http://127.0.0.1:${other.port}/echo` });
    assert.equal(named.json<{ origin: string; headers: Record<string, string> }>().origin, 'other');
    assert.equal(named.json<{ headers: Record<string, string> }>().headers.host, `127.0.0.1:${other.port}`);
    assert.equal((await api.fetch({ url: `http://${origin.address}/echo` })).status, 200, "a server's address");
    const stranger = await startOrigin('stranger', handler('stranger'));
    try {
      const url = `http://127.0.0.1:${stranger.port}/echo`;
      const err = await rejected(api.fetch({ url }), 'NOT_ALLOWED');
      assert.match(err.message, new RegExp(`127\\.0\\.0\\.1:${stranger.port}`));
      assert.equal(stranger.requests.length, 0);
      assert.equal((await api.fetch({ url, allow: 'any' })).json<{ origin: string }>().origin, 'stranger');
    } finally {
      await stranger.close();
    }
    await rejected(api.fetch({ url: 'ftp://127.0.0.1/' }), 'INVALID');
    await rejected(api.fetch({ url: 'not a url' }), 'INVALID');
  });

  it('an https URL is verified: with the CA given it is fetched, without it refused', async () => {
    const url = `https://${secure.address}/`;
    assert.equal((await api.fetch({ url, ca: pki.ca.cert })).text(), 'secure');
    const err = await rejected(api.fetch({ url }), 'BROKEN');
    assert.match(err.message, /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
  });

  it('a timeout, an abort and a body over maxBody end the exchange; discardBody reads and drops it', async () => {
    const started = performance.now();
    await rejected(api.fetch({ backend: 'app', path: '/hang', timeout: 200 }), 'TIMEOUT');
    assert.ok(performance.now() - started < 2_000);
    const controller = new AbortController();
    const aborted = rejected(api.fetch({ backend: 'app', path: '/hang', signal: controller.signal }), 'ABORTED');
    controller.abort();
    await aborted;
    await rejected(api.fetch({ backend: 'app', path: '/big', maxBody: 1000 }), 'BODY_TOO_LARGE');
    assert.equal((await api.fetch({ backend: 'app', path: '/big', maxBody: 2000 })).body.length, 2000);
    const dropped = await api.fetch({ backend: 'app', path: '/big', discardBody: true });
    assert.equal(dropped.status, 200);
    assert.equal(dropped.body.length, 0);
    assert.equal(backend('app').servers[0]!.active, 0, 'every exchange released its server');
  });

  it("an error answer resolves; a broken exchange, a bad request or a plugin's uncaught failure never takes the worker down", async () => {
    const r = await api.fetch({ backend: 'app', path: '/error' });
    assert.equal(r.status, 500);
    assert.equal(r.text(), 'broken inside');
    await rejected(api.fetch({ backend: 'app', path: '/reset' }), 'BROKEN');
    await rejected(api.fetch({ backend: 'app', path: 'relative' }), 'INVALID');
    await rejected(api.fetch({ backend: 'app', path: '/', headers: { 'x-bad': 'a\r\nb' } }), 'INVALID');
    await rejected(api.fetch({ backend: 'app', url: 'http://127.0.0.1/' } as never), 'INVALID');
    const failed = await httpsGet(gw.port(), '/fetch-missing', { ca: pki.ca.cert });
    assert.equal(failed.status, 500);
    assert.equal((await httpsGet(gw.port(), '/echo', { ca: pki.ca.cert })).status, 200);
  });

  it("through a frontend: the request's routes and plugins, with the client's TLS facts", async () => {
    const r = await httpsGet(gw.port(), '/sub', { ca: pki.ca.cert, headers: { host: 'shop.test' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['x-sub-status'], '200');
    const seen = JSON.parse(r.body) as { url: string; headers: Record<string, string> };
    assert.equal(seen.url, '/echo?sub=1');
    assert.equal(seen.headers['x-sub'], 'yes');
    assert.equal(seen.headers['x-forwarded-proto'], 'https');
    assert.equal(seen.headers['x-forwarded-host'], 'shop.test', "the request's Host when none is given");
    assert.equal(seen.headers['x-forwarded-for'], '127.0.0.1');
  });

  it('subrequests made for subrequests stop at 4 levels (LOOP)', async () => {
    const r = await httpsGet(gw.port(), '/loop', { ca: pki.ca.cert });
    assert.equal(r.status, 200);
    assert.equal(r.body, 'level+level+level+level+LOOP');
  });

  it('once the generation is gone, fetch rejects with CLOSED', async () => {
    const gone = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['./fetcher.ts'] } },
        backends: { app: { servers: [{ name: 'a', address: origin.address }] } },
      },
      { 'fetcher.ts': fetcher },
    );
    const goneApi = apis.at(-1)!;
    assert.equal((await get(gone.url('/echo'))).status, 200);
    await gone.close();
    await rejected(goneApi.fetch({ backend: 'app', path: '/' }), 'CLOSED');
  });
});
