// Health checks on real loopback sockets: active checks (HTTP and TCP) take servers out
// and bring them back, outlier detection ejects servers that fail requests, and a
// generation that is thrown away leaves nothing running. Tests wait on the backend's
// health events, not on sleeps.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../../../core/config/check.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import type { Backend } from '../../../core/upstream/backend.ts';
import type { CheckResult, HealthChange } from '../../../core/upstream/health.ts';
import { deadPort, startGateway, startOrigin, tempDir, type TestGateway } from '../../helpers/gateway.ts';

function get(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.on('data', (d) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, body }));
      })
      .on('error', reject);
  });
}

async function bodies(gw: TestGateway, n: number, path = '/'): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < n; i++) out.push((await get(gw.url(path))).body);
  return out;
}

/** The next time health takes `server` out (up: false) or brings it back (up: true). */
function nextChange(backend: Backend, server: string, up: boolean): Promise<HealthChange> {
  return new Promise((resolve) => {
    const on = (c: HealthChange) => {
      if (c.server.name !== server || c.up !== up) return;
      backend.health.off('change', on);
      resolve(c);
    };
    backend.health.on('change', on);
  });
}

/** The next `n` active checks of `server`. */
function nextChecks(backend: Backend, server: string, n = 1): Promise<CheckResult[]> {
  const seen: CheckResult[] = [];
  return new Promise((resolve) => {
    const on = (c: CheckResult) => {
      if (c.server.name !== server || seen.push(c) < n) return;
      backend.health.off('check', on);
      resolve(seen);
    };
    backend.health.on('check', on);
  });
}

/** An origin answering `name` on every path, and `health()` (status, body) on /health. */
async function checkedOrigin(name: string, health: () => { status: number; body?: string } | 'hang') {
  return startOrigin(name, (req, res) => {
    req.resume();
    if (req.url !== '/health') return void res.end(name);
    const h = health();
    if (h === 'hang') return;
    res.writeHead(h.status, { 'content-type': 'text/plain' });
    res.end(h.body ?? '');
  });
}

const frontends = { web: { bind: '127.0.0.1:0', default_backend: 'app' } };
const server = (gw: TestGateway, name: string) => gw.gateway.generation.backends.get('app')!.servers.find((s) => s.name === name)!;

describe('active health checks', () => {
  it(
    'an HTTP check takes a server out after `fall` failures, sends every request to the other, and brings it back after `rise` passes',
    { timeout: 10_000 },
    async () => {
      let status = 200;
      const a = await checkedOrigin('a', () => ({ status }));
      const b = await checkedOrigin('b', () => ({ status: 200 }));
      const gw = await startGateway({
        frontends,
        backends: {
          app: {
            health: { interval: '50ms', timeout: '1s', rise: 2, fall: 3, http: { path: '/health' } },
            passive: false,
            servers: [
              { name: 'a', address: a.address },
              { name: 'b', address: b.address },
            ],
          },
        },
      });
      try {
        const backend = gw.gateway.generation.backends.get('app')!;
        await nextChecks(backend, 'a');
        assert.equal(server(gw, 'a').health.lastResult, 'passed');

        status = 500;
        const down = nextChange(backend, 'a', false);
        const failedBefore = server(gw, 'a').health.failedChecks;
        const change = await down;
        assert.equal(server(gw, 'a').up, false);
        assert.equal(server(gw, 'a').health.failedChecks - failedBefore, 3);
        assert.equal(server(gw, 'a').health.lastError, 'status 500, expected 200-399');
        assert.match(change.reason, /^3 failed checks in a row: status 500/);
        assert.deepEqual(await bodies(gw, 10), Array(10).fill('b'));

        status = 204;
        const back = await nextChange(backend, 'a', true);
        assert.equal(back.reason, '2 passed checks in a row');
        assert.equal(server(gw, 'a').health.streak, 2);
        assert.ok(server(gw, 'a').health.lastChange! <= Date.now());
        assert.deepEqual((await bodies(gw, 4)).sort(), ['a', 'a', 'b', 'b']);

        // Each check is its own short connection, not one of the pooled traffic connections.
        const checks = a.requests.filter((r) => r.url === '/health');
        assert.ok(
          checks.every(
            (r) => r.method === 'GET' && r.headers.connection === 'close' && r.headers['user-agent'] === 'tapgate-health-check' && r.headers.host === a.address,
          ),
        );
      } finally {
        await gw.close();
        await Promise.all([a.close(), b.close()]);
      }
    },
  );

  it(
    'a TCP check takes out a server whose port is closed at its first failure, since it never passed; `check: false` leaves a server unchecked',
    { timeout: 10_000 },
    async () => {
      const b = await startOrigin('b');
      const c = await startOrigin('c');
      const dead = await deadPort();
      const gw = await startGateway({
        frontends,
        backends: {
          app: {
            health: { type: 'tcp', interval: '50ms', timeout: '500ms' },
            servers: [
              { name: 'a', address: `127.0.0.1:${dead}` },
              { name: 'b', address: b.address },
              { name: 'c', address: c.address, check: false },
            ],
          },
        },
      });
      try {
        const backend = gw.gateway.generation.backends.get('app')!;
        const down = await nextChange(backend, 'a', false);
        assert.equal(down.reason, '1 failed check in a row: ECONNREFUSED');
        assert.equal(server(gw, 'a').health.checks, 1);
        await nextChecks(backend, 'b', 2);
        assert.equal(server(gw, 'b').health.lastResult, 'passed');
        assert.equal(server(gw, 'b').up, true);
        assert.equal(server(gw, 'c').health.checked, false);
        assert.equal(server(gw, 'c').health.checks, 0);
        assert.equal(c.connections, 0);
        assert.deepEqual((await bodies(gw, 6)).sort(), ['b', 'b', 'b', 'c', 'c', 'c']);
      } finally {
        await gw.close();
        await Promise.all([b.close(), c.close()]);
      }
    },
  );

  it('a body that does not match expect_body fails the check, text or /regex/', { timeout: 10_000 }, async () => {
    const a = await checkedOrigin('a', () => ({ status: 200, body: 'status: starting' }));
    const b = await checkedOrigin('b', () => ({ status: 200, body: 'status: ready' }));
    const gw = await startGateway({
      frontends,
      backends: {
        app: {
          health: { interval: '50ms', http: { expect_body: '/^status: (ready|draining)$/' } },
          servers: [
            { name: 'a', address: a.address },
            { name: 'b', address: b.address },
          ],
        },
      },
    });
    try {
      const backend = gw.gateway.generation.backends.get('app')!;
      const [down] = await Promise.all([nextChange(backend, 'a', false), nextChecks(backend, 'b', 2)]);
      assert.equal(down.reason, '1 failed check in a row: body does not match /^status: (ready|draining)$/');
      assert.equal(server(gw, 'b').health.lastResult, 'passed');
      assert.equal(server(gw, 'b').up, true);
    } finally {
      await gw.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('a check with no answer within its timeout fails', { timeout: 10_000 }, async () => {
    const a = await checkedOrigin('a', () => 'hang');
    const b = await startOrigin('b');
    const gw = await startGateway({
      frontends,
      backends: {
        app: {
          health: { interval: '50ms', timeout: '100ms', http: { expect_body: 'ok' } },
          servers: [
            { name: 'a', address: a.address },
            { name: 'b', address: b.address, check: false },
          ],
        },
      },
    });
    try {
      const down = await nextChange(gw.gateway.generation.backends.get('app')!, 'a', false);
      assert.equal(down.reason, '1 failed check in a row: no answer within 100ms');
      assert.ok(server(gw, 'a').health.lastDuration! >= 99);
    } finally {
      await gw.close();
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('an HTTP check of an h2 server speaks HTTP/2, as its traffic does', { timeout: 10_000 }, async () => {
    const seen: string[] = [];
    const h2 = http2.createServer((req, res) => {
      seen.push(`${req.httpVersion} ${req.url} ${req.headers[':authority']}`);
      res.writeHead(req.url === '/health' ? 200 : 404).end('ready');
    });
    await new Promise<void>((r) => h2.listen(0, '127.0.0.1', r));
    const gw = await startGateway({
      frontends,
      backends: {
        app: {
          protocol: 'h2',
          health: { interval: '50ms', timeout: '1s', http: { path: '/health', expect_body: 'ready', host: 'app.internal' } },
          servers: [{ name: 'a', address: `127.0.0.1:${(h2.address() as AddressInfo).port}` }],
        },
      },
    });
    try {
      const [check] = await nextChecks(gw.gateway.generation.backends.get('app')!, 'a');
      assert.equal(check!.passed, true, check!.error);
      assert.equal(seen[0], '2.0 /health app.internal');
    } finally {
      await gw.close();
      h2.close();
    }
  });

  it('a generation that is thrown away leaves no check running: after `check`, and after the gateway is killed', { timeout: 10_000 }, async () => {
    const a = await checkedOrigin('a', () => ({ status: 200 }));
    const config = {
      log: { level: 'silent', access: false },
      frontends,
      backends: { app: { health: { interval: '20ms', http: {} }, servers: [{ name: 'a', address: a.address }] } },
    };
    const dir = tempDir();
    try {
      // `tapgate check` builds a generation and disposes it: it never starts checks.
      writeFileSync(join(dir, 'tapgate.yaml'), stringify(config));
      const checked = await checkConfig(join(dir, 'tapgate.yaml'), { builtins, logger: createLogger('silent') });
      assert.ok(checked.ok);

      const gw = await startGateway(config);
      await nextChecks(gw.gateway.generation.backends.get('app')!, 'a', 3);
      await gw.close();
      // Every request came from the served generation's checks (one may have been cut short by the kill).
      const seen = a.requests.length;
      assert.ok(seen - server(gw, 'a').health.checks <= 1, `${seen} requests for ${server(gw, 'a').health.checks} checks`);
      // Nothing is expected to happen here: ten intervals is the only way to show it.
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(a.requests.length, seen);
    } finally {
      rmSync(dir, { recursive: true, force: true });
      await a.close();
    }
  });
});

describe('passive health checks (outlier detection)', () => {
  it(
    'ejects a server after `consecutive_errors` failed requests in a row, not the last one, and tries it again after `eject_for`',
    { timeout: 10_000 },
    async () => {
      // Both answer 500 on /fail; each gets every other request.
      const handler = (name: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
        req.resume();
        res.statusCode = req.url === '/fail' ? 500 : 200;
        res.end(name);
      };
      const a = await startOrigin('a', handler('a'));
      const b = await startOrigin('b', handler('b'));
      const gw = await startGateway({
        frontends,
        backends: {
          app: {
            // Active checks pass all along; they do not end an ejection early.
            health: { type: 'tcp', interval: '50ms' },
            passive: { consecutive_errors: 3, eject_for: '1s' },
            servers: [
              { name: 'a', address: a.address },
              { name: 'b', address: b.address },
            ],
          },
        },
      });
      try {
        const backend = gw.gateway.generation.backends.get('app')!;
        await bodies(gw, 4, '/fail');
        await bodies(gw, 2, '/ok');
        await bodies(gw, 4, '/fail');
        // Two errors each since a good answer reset the count.
        assert.deepEqual(
          backend.servers.map((s) => [s.health.consecutiveErrors, s.up]),
          [
            [2, true],
            [2, true],
          ],
        );

        const ejected = nextChange(backend, 'a', false);
        const third = await get(gw.url('/fail'));
        assert.equal(third.body, 'a');
        assert.equal((await ejected).reason, 'ejected after 3 failed requests in a row (last: server-error)');
        assert.ok(server(gw, 'a').health.ejectedUntil! > Date.now());

        // b is now the last server: it keeps answering, errors and all.
        assert.deepEqual(await Promise.all([get(gw.url('/fail')), get(gw.url('/fail'))]), [
          { status: 500, body: 'b' },
          { status: 500, body: 'b' },
        ]);
        assert.equal(server(gw, 'b').up, true);
        assert.equal(server(gw, 'b').health.ejections, 0);

        await nextChecks(backend, 'a', 3);
        assert.equal(server(gw, 'a').health.lastResult, 'passed');
        assert.equal(server(gw, 'a').up, false);
        assert.deepEqual(await bodies(gw, 4), ['b', 'b', 'b', 'b']);

        const back = await nextChange(backend, 'a', true);
        assert.equal(back.reason, 'ejection over after 1000ms');
        assert.equal(server(gw, 'a').health.consecutiveErrors, 0);
        assert.equal(server(gw, 'a').health.ejections, 1);
        assert.deepEqual((await bodies(gw, 4)).sort(), ['a', 'a', 'b', 'b']);
      } finally {
        await gw.close();
        await Promise.all([a.close(), b.close()]);
      }
    },
  );

  it('ejects a server that refuses connections, so requests stop paying for a retry', { timeout: 10_000 }, async () => {
    const b = await startOrigin('b');
    const dead = await deadPort();
    const gw = await startGateway({
      frontends,
      backends: {
        app: {
          servers: [
            { name: 'a', address: `127.0.0.1:${dead}` },
            { name: 'b', address: b.address },
          ],
        },
      },
    });
    try {
      const backend = gw.gateway.generation.backends.get('app')!;
      const ejected = nextChange(backend, 'a', false);
      // Default: 5 failures in a row. Each try at a is retried on b, so clients see only b.
      assert.deepEqual(await bodies(gw, 10), Array(10).fill('b'));
      assert.equal((await ejected).reason, 'ejected after 5 failed requests in a row (last: connect-error)');
    } finally {
      await gw.close();
      await b.close();
    }
  });
});

describe('health settings in the config', () => {
  async function problems(backend: object): Promise<string[]> {
    const dir = tempDir();
    try {
      const file = join(dir, 'tapgate.yaml');
      writeFileSync(file, stringify({ frontends, backends: { app: { servers: [{ name: 'a', address: '127.0.0.1:1' }], ...backend } } }));
      const result = await checkConfig(file, { builtins, logger: createLogger('silent') });
      return result.problems.map((p) => `${p.path}: ${p.message}${p.hint ? ` (${p.hint})` : ''}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  it('reports each bad health key with its path and what was expected', async () => {
    assert.deepEqual(
      await problems({ health: { interval: '0s', timeout: -1, falls: 3, http: { path: 'health', expect_status: '500-200', expect_body: '/(/' } } }),
      [
        'backends.app.health.interval: expected a duration above 0, found "0s"',
        'backends.app.health.timeout: expected a number > 0, found -1',
        'backends.app.health.falls: unknown key "falls" (did you mean "fall"?)',
        'backends.app.health.http.path: expected a path starting with "/", without spaces, found "health"',
        'backends.app.health.http.expect_status: expected statuses from 100 to 599, each range low-high, found "500-200"',
        'backends.app.health.http.expect_body: expected text, or a valid /regex/flags, found "/(/"',
      ],
    );
  });

  it('refuses an http block on a tcp check, and a passive section it cannot read', async () => {
    assert.deepEqual(await problems({ health: { type: 'tcp', http: { path: '/up' } }, passive: { eject_for: 'soon', consecutive_errors: 0 } }), [
      'backends.app.health.type: expected "http", since an http block is given, found "tcp"',
      'backends.app.passive.eject_for: expected a duration such as 250ms, 5s, 2m, found "soon"',
      'backends.app.passive.consecutive_errors: expected a number >= 1, found 0',
    ]);
  });

  it('accepts `health: {}` as a TCP check with the defaults, and `passive: false`', async () => {
    assert.deepEqual(await problems({ health: {}, passive: false }), []);
  });
});
