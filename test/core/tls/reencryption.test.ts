// HTTP mode, TLS to the servers (`ssl: true`): verification with a CA, by address or by
// the configured SNI name; failures are 502s with their reason; health checks use TLS.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import http from 'node:http';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import { testPki } from './pki.ts';
import { startHttpsOrigin, type TestServer } from './client.ts';
import type { Backend } from '../../../core/upstream/backend.ts';
import type { CheckResult } from '../../../core/upstream/health.ts';

const pki = testPki();
/** For 127.0.0.1 (an IP SAN) and origin.test. */
const originCert = pki.ca.issue({ cn: 'origin', ips: ['127.0.0.1'], dns: ['origin.test'] });

interface Sent {
  status: number;
  error: string | undefined;
}
const sent: Sent[] = [];
(globalThis as { __tapgateTlsSent?: Sent[] }).__tapgateTlsSent = sent;

/** Records what each response came to, ctx.error included. */
const recorder = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'recorder', version: '1.0.0', setup(api) {
  api.hooks.http.responseSent.tap(api.name, (ctx) => { globalThis.__tapgateTlsSent.push({ status: ctx.status, error: ctx.error }); });
}});`;

function get(port: number, path: string, host = 'gateway.test'): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers: { host } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
  });
}

/** One frontend per server setting, each with its own backend: `web-<name>`. */
function config(origin: TestServer, servers: Record<string, object>): object {
  const frontends: Record<string, object> = {};
  const backends: Record<string, object> = {};
  for (const [name, settings] of Object.entries(servers)) {
    frontends[`web-${name}`] = { bind: '127.0.0.1:0', default_backend: name, plugins: ['./recorder.ts'] };
    backends[name] = { retries: 0, passive: false, servers: [{ name: 's', address: origin.address, ssl: true, ...settings }] };
  }
  return { frontends, backends };
}

describe('TLS to servers in http mode', () => {
  let origin: TestServer;
  let gw: TestGateway;
  before(async () => {
    origin = await startHttpsOrigin('secure', originCert);
    gw = await startGateway(
      config(origin, {
        verified: { ca: 'ca.pem' },
        unknownca: {},
        unverified: { verify: false },
        named: { ca: 'ca.pem', sni: 'origin.test' },
        misnamed: { ca: 'ca.pem', sni: 'other.test' },
      }),
      { 'ca.pem': pki.ca.cert, 'recorder.ts': recorder },
    );
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('with the CA, the server is verified (by its IP address) and answers; no SNI is sent for an IP', async () => {
    const answer = await get(gw.port('web-verified'), '/');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'secure');
    assert.equal(answer.headers['x-sni'], 'none');
  });

  it("the client's Host header is not the server's TLS name, and keep-alive connections serve every Host", async () => {
    const before = origin.connections;
    for (const host of ['one.example', 'two.example', 'three.example']) {
      const answer = await get(gw.port('web-verified'), '/', host);
      assert.equal(answer.status, 200);
      assert.equal(answer.headers['x-sni'], 'none');
    }
    assert.ok(origin.connections - before <= 1, `one connection at most, made ${origin.connections - before}`);
  });

  it('a server whose certificate does not verify gets a 502, with the reason in ctx.error', async () => {
    const answer = await get(gw.port('web-unknownca'), '/');
    assert.equal(answer.status, 502);
    const last = sent.at(-1)!;
    assert.equal(last.status, 502);
    assert.match(String(last.error), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });

  it('verify: false accepts it', async () => {
    const answer = await get(gw.port('web-unverified'), '/');
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'secure');
  });

  it('sni: the name is sent, and the certificate is checked against it', async () => {
    const named = await get(gw.port('web-named'), '/');
    assert.equal(named.status, 200);
    assert.equal(named.headers['x-sni'], 'origin.test');
    const misnamed = await get(gw.port('web-misnamed'), '/');
    assert.equal(misnamed.status, 502);
    assert.match(String(sent.at(-1)!.error), /ERR_TLS_CERT_ALTNAME_INVALID/);
  });
});

describe('health checks of an ssl server', () => {
  let origin: TestServer;
  let gw: TestGateway;
  before(async () => {
    origin = await startHttpsOrigin('secure', originCert);
    // A Host header for the check: the certificate is still checked against the address, as for traffic.
    const health = { interval: '50ms', timeout: '1s', http: { path: '/health', host: 'app.internal' } };
    gw = await startGateway(
      {
        frontends: { good: { bind: '127.0.0.1:0', default_backend: 'good' }, bad: { bind: '127.0.0.1:0', default_backend: 'bad' } },
        backends: {
          good: { health, servers: [{ name: 's', address: origin.address, ssl: true, ca: 'ca.pem' }] },
          bad: { health, servers: [{ name: 's', address: origin.address, ssl: true }] },
        },
      },
      { 'ca.pem': pki.ca.cert },
    );
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  const nextCheck = async (backend: string): Promise<CheckResult> => {
    const b = gw.gateway.generation.backends.get(backend) as Backend;
    const [result] = await once(b.health, 'check', { signal: AbortSignal.timeout(5000) });
    return result as CheckResult;
  };

  it('speak TLS with the same verification as traffic', async () => {
    const good = await nextCheck('good');
    assert.equal(good.passed, true, good.error);
    const bad = await nextCheck('bad');
    assert.equal(bad.passed, false);
    assert.match(String(bad.error), /UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
  });
});
