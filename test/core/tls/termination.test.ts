import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { startGateway, startOrigin, rawExchange, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { checkConfig } from '../../../core/config/check.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { stringify } from 'yaml';
import { testPki, TestCa } from './pki.ts';
import { handshake, httpsGet, namesOf } from './client.ts';

const pki = testPki();
const other = new TestCa('another CA').issue({ cn: 'mallory', client: true });

/** Answers GET /tls with `ctx.tls` as JSON in `x-tls`. */
const tlsFacts = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'tls-facts', version: '1.0.0', setup(api) {
  api.hooks.http.request.tapPromise(api.name, async (ctx) => {
    if (ctx.path === '/tls') return { status: 200, headers: { 'x-tls': JSON.stringify(ctx.tls ?? null) }, body: 'facts' };
  });
}});`;

const files = {
  'ab.pem': pki.ab.cert,
  'ab.key': pki.ab.key,
  'c.pem': pki.c.cert,
  'c.key': pki.c.key,
  'ca.pem': pki.ca.cert,
  'tls-facts.ts': tlsFacts,
};

function config(origin: TestOrigin, tls: object): object {
  return {
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: ['./tls-facts.ts'], tls } },
    backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
  };
}

/** c.test is the default; a.test and *.b.test are the second's; exact.b.test is named for the third. */
const certificates = [
  { cert: 'c.pem', key: 'c.key' },
  { cert: 'ab.pem', key: 'ab.key' },
  { cert: 'c.pem', key: 'c.key', names: ['exact.b.test'] },
];

const facts = async (port: number, o: Parameters<typeof httpsGet>[2]) => {
  const answer = await httpsGet(port, '/tls', o);
  assert.equal(answer.status, 200);
  return JSON.parse(String(answer.headers['x-tls']));
};

describe('TLS termination on an http frontend', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  before(async () => {
    origin = await startOrigin('app');
    gw = await startGateway(config(origin, { certificates }), files);
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('SNI chooses the certificate that names the host exactly, in any case', async () => {
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'a.test', ca: pki.ca.cert })).peer), 'a.test, *.b.test');
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'A.Test', ca: pki.ca.cert })).peer), 'a.test, *.b.test');
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'c.test', ca: pki.ca.cert })).peer), 'c.test');
  });

  it('a wildcard certificate serves one label below its domain, not two, nor the domain itself', async () => {
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'x.b.test' })).peer), 'a.test, *.b.test');
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'y.x.b.test' })).peer), 'c.test');
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'b.test' })).peer), 'c.test');
  });

  it('an exact name (here from names:) wins over a wildcard that also matches', async () => {
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'exact.b.test' })).peer), 'c.test');
  });

  it('the first certificate serves unknown names and clients that send no SNI', async () => {
    assert.equal(namesOf((await handshake(gw.port(), { servername: 'unknown.test' })).peer), 'c.test');
    assert.equal(namesOf((await handshake(gw.port())).peer), 'c.test');
  });

  it('the chain verifies against the CA', async () => {
    assert.equal((await handshake(gw.port(), { servername: 'a.test', ca: pki.ca.cert })).authorized, true);
  });

  it('TLS 1.1 is refused by default (min_version TLSv1.2); TLS 1.2 and 1.3 are served', async () => {
    await assert.rejects(
      handshake(gw.port(), { servername: 'a.test', minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' }),
      (err: NodeJS.ErrnoException) => /PROTOCOL_VERSION|UNSUPPORTED_PROTOCOL/.test(String(err.code)),
    );
    assert.equal((await handshake(gw.port(), { servername: 'a.test', maxVersion: 'TLSv1.2' })).version, 'TLSv1.2');
    assert.equal((await handshake(gw.port(), { servername: 'a.test' })).version, 'TLSv1.3');
  });

  it('ALPN agrees on h2 when the client offers it, else http/1.1, whichever certificate serves', async () => {
    for (const servername of ['a.test', 'c.test', undefined]) {
      assert.equal((await handshake(gw.port(), { servername, ALPNProtocols: ['h2', 'http/1.1'] })).alpn, 'h2', `SNI ${servername}`);
      assert.equal((await handshake(gw.port(), { servername, ALPNProtocols: ['http/1.1'] })).alpn, 'http/1.1', `SNI ${servername}`);
    }
  });

  it('requests reach the server with X-Forwarded-Proto: https', async () => {
    const answer = await httpsGet(gw.port(), '/x', { servername: 'a.test', ca: pki.ca.cert });
    assert.equal(answer.status, 200);
    assert.equal(answer.body, 'app');
    assert.equal(origin.requests.at(-1)!.headers['x-forwarded-proto'], 'https');
  });

  it('plugins see the handshake in ctx.tls: SNI, ALPN, version, cipher', async () => {
    const tls = await facts(gw.port(), { servername: 'a.test', ca: pki.ca.cert, ALPNProtocols: ['http/1.1'] });
    assert.equal(tls.sni, 'a.test');
    assert.equal(tls.alpn, 'http/1.1');
    assert.equal(tls.version, 'TLSv1.3');
    assert.match(tls.cipher, /^TLS_/);
    assert.equal(tls.clientCert, undefined);
    const plain = await facts(gw.port(), { maxVersion: 'TLSv1.2' });
    assert.equal(plain.sni, undefined);
    assert.equal(plain.version, 'TLSv1.2');
  });
});

describe('min_version TLSv1.3', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  before(async () => {
    origin = await startOrigin('app');
    gw = await startGateway(config(origin, { certificates, min_version: 'TLSv1.3' }), files);
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  it('refuses a TLS 1.2 client', async () => {
    await assert.rejects(handshake(gw.port(), { servername: 'a.test', maxVersion: 'TLSv1.2' }), (err: NodeJS.ErrnoException) =>
      /PROTOCOL_VERSION/.test(String(err.code)),
    );
    assert.equal((await handshake(gw.port(), { servername: 'a.test' })).version, 'TLSv1.3');
  });
});

describe('mutual TLS', () => {
  let origin: TestOrigin;
  const gateways: TestGateway[] = [];
  let required: TestGateway;
  let optional: TestGateway;
  before(async () => {
    origin = await startOrigin('app');
    required = await startGateway(config(origin, { certificates, client_ca: 'ca.pem' }), files);
    optional = await startGateway(config(origin, { certificates, client_ca: 'ca.pem', client_verify: 'optional' }), files);
    gateways.push(required, optional);
  });
  after(async () => {
    for (const g of gateways) await g.close();
    await origin.close();
  });

  it('client_verify required (the default with client_ca) refuses a client without a certificate', async () => {
    await assert.rejects(httpsGet(required.port(), '/', { servername: 'a.test', ca: pki.ca.cert }));
  });

  it('client_verify required refuses a certificate from another CA', async () => {
    await assert.rejects(httpsGet(required.port(), '/', { servername: 'a.test', ca: pki.ca.cert, ...other }));
  });

  it('a client with a certificate from client_ca is served, and plugins see its subject', async () => {
    const answer = await httpsGet(required.port(), '/', { servername: 'a.test', ca: pki.ca.cert, ...pki.client });
    assert.equal(answer.status, 200);
    const tls = await facts(required.port(), { servername: 'a.test', ca: pki.ca.cert, ...pki.client });
    assert.match(tls.clientCert.subject, /CN=alice/);
    assert.match(tls.clientCert.issuer, /CN=tapgate test CA/);
    assert.match(tls.clientCert.fingerprint256, /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
    assert.equal(tls.clientCert.authorized, true);
  });

  it('client_verify optional serves clients without a certificate, and says when one did not verify', async () => {
    assert.equal((await facts(optional.port(), { servername: 'a.test' })).clientCert, undefined);
    const good = await facts(optional.port(), { servername: 'a.test', ...pki.client });
    assert.equal(good.clientCert.authorized, true);
    const bad = await facts(optional.port(), { servername: 'a.test', ...other });
    assert.match(bad.clientCert.subject, /CN=mallory/);
    assert.equal(bad.clientCert.authorized, false);
    assert.ok(bad.clientCert.error, 'the reason it did not verify');
  });
});

describe('TLS across a reload', () => {
  let origin: TestOrigin;
  let gw: TestGateway;
  before(async () => {
    origin = await startOrigin('app');
    gw = await startGateway(config(origin, { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] }), files);
  });
  after(async () => {
    await gw.close();
    await origin.close();
  });

  const reload = async (cfg: object, id: number) => {
    writeFileSync(gw.file, stringify({ log: { level: 'silent', access: false }, ...cfg }));
    const result = await checkConfig(gw.file, { builtins, logger: createLogger('silent'), keep: true, generationId: id });
    assert.ok(result.ok && result.generation, JSON.stringify(result.problems));
    await gw.gateway.swap(result.generation, 1000);
  };

  it('a kept listener serves the certificate files as they are at the reload, with SNI and without', async () => {
    const port = gw.port();
    const renewed = pki.ca.issue({ cn: 'a.test', dns: ['a.test', 'renewed.test'] });
    writeFileSync(join(gw.dir, 'ab.pem'), renewed.cert);
    writeFileSync(join(gw.dir, 'ab.key'), renewed.key);
    // The files changed, the config did not: the running generation keeps what it read.
    assert.equal(namesOf((await handshake(port, { servername: 'a.test' })).peer), 'a.test, *.b.test');
    await reload(config(origin, { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] }), 2);
    assert.equal(gw.port(), port, 'the same listener');
    assert.equal(namesOf((await handshake(port, { servername: 'a.test', ca: pki.ca.cert })).peer), 'a.test, renewed.test');
    assert.equal(namesOf((await handshake(port)).peer), 'a.test, renewed.test');
    assert.equal((await httpsGet(port, '/', { servername: 'a.test', ca: pki.ca.cert })).status, 200);
  });

  it('with one certificate (no choice for SNI to make), plugins still see the SNI name', async () => {
    const tls = await facts(gw.port(), { servername: 'a.test', ca: pki.ca.cert, ALPNProtocols: ['http/1.1'] });
    assert.equal(tls.sni, 'a.test');
    assert.equal(tls.alpn, 'http/1.1');
  });

  it("node keeps a server's SNICallback where the listener turns it off (else every handshake still calls out to JavaScript)", () => {
    const server = tls.createServer({ SNICallback: (_name, done) => done(null) });
    assert.ok(Object.getOwnPropertySymbols(server).some((s) => s.description === 'snicallback'));
  });

  it('a reload from one certificate to several makes SNI choose on a kept listener, and back', async () => {
    const port = gw.port();
    await reload(config(origin, { certificates }), 3);
    assert.equal(gw.port(), port, 'the same listener');
    assert.equal(namesOf((await handshake(port, { servername: 'a.test', ca: pki.ca.cert })).peer), 'a.test, renewed.test');
    assert.equal(namesOf((await handshake(port, { servername: 'c.test', ca: pki.ca.cert })).peer), 'c.test');
    assert.equal(namesOf((await handshake(port)).peer), 'c.test');
    await reload(config(origin, { certificates: [{ cert: 'c.pem', key: 'c.key' }] }), 4);
    assert.equal(gw.port(), port);
    assert.equal(namesOf((await handshake(port, { servername: 'a.test' })).peer), 'c.test');
  });

  it('a reload can turn client verification on for a kept listener', async () => {
    const port = gw.port();
    await reload(config(origin, { certificates: [{ cert: 'ab.pem', key: 'ab.key' }], client_ca: 'ca.pem' }), 5);
    assert.equal(gw.port(), port);
    await assert.rejects(httpsGet(port, '/', { servername: 'a.test', ca: pki.ca.cert }));
    assert.equal((await httpsGet(port, '/', { servername: 'a.test', ca: pki.ca.cert, ...pki.client })).status, 200);
  });

  it('turning TLS off replaces the listener with a plain one', async () => {
    const before = gw.port();
    await reload(config(origin, undefined as unknown as object), 6);
    assert.notEqual(gw.port(), before, 'a new listener (port 0 binds anew)');
    const answer = await rawExchange(gw.port(), 'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1.1 200/);
  });
});

describe('Listener.adopt: a connection accepted elsewhere, first bytes already read', () => {
  let origin: TestOrigin;
  const gateways: TestGateway[] = [];
  const fronts: net.Server[] = [];
  before(async () => {
    origin = await startOrigin('app');
  });
  after(async () => {
    for (const f of fronts) f.close();
    for (const g of gateways) await g.close();
    await origin.close();
  });

  /** A TCP server that reads a connection's first bytes, puts them back, and hands the socket to the gateway's frontend `web`. */
  async function handingOver(gw: TestGateway): Promise<number> {
    const front = net.createServer((socket) => {
      socket.once('data', (first) => {
        socket.pause();
        socket.unshift(first);
        gw.gateway.listener('web')!.adopt(socket);
      });
    });
    fronts.push(front);
    front.listen(0, '127.0.0.1');
    await once(front, 'listening');
    return (front.address() as net.AddressInfo).port;
  }

  it('a plain http frontend serves it', async () => {
    const gw = await startGateway({
      frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
      backends: { app: { servers: [{ name: 'o', address: origin.address }] } },
    });
    gateways.push(gw);
    const answer = await rawExchange(await handingOver(gw), 'GET /handed HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    assert.match(answer, /^HTTP\/1.1 200/);
    assert.match(answer, /\r\nx-origin: app\r\n/);
    assert.equal(origin.requests.at(-1)!.url, '/handed');
  });

  it('a TLS frontend completes the handshake from the ClientHello already read', async () => {
    const gw = await startGateway(config(origin, { certificates }), files);
    gateways.push(gw);
    const answer = await httpsGet(await handingOver(gw), '/tls', { servername: 'a.test', ca: pki.ca.cert });
    assert.equal(answer.status, 200);
    assert.equal(namesOf(answer.peer), 'a.test, *.b.test');
    assert.equal(JSON.parse(String(answer.headers['x-tls'])).sni, 'a.test');
  });
});
