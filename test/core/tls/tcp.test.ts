// TCP mode: TLS terminated on the frontend (plain bytes to the server), and TLS to the
// server (`ssl: true`) verified with a CA.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import tls from 'node:tls';
import { startGateway, type TestGateway } from '../../helpers/gateway.ts';
import type { TlsInfo } from '../../../sdk/index.ts';
import { testPki } from './pki.ts';
import { connectOptions, exchange, namesOf, startEchoServer, type TestServer } from './client.ts';

const pki = testPki();

const seen: (TlsInfo | undefined)[] = [];
(globalThis as { __tapgateTcpTls?: typeof seen }).__tapgateTcpTls = seen;

/** Records `ctx.tls` of every session it accepts. */
const recorder = `
import { definePlugin } from 'tapgate/sdk';
export default definePlugin({ name: 'tls-recorder', version: '1.0.0', setup(api) {
  api.hooks.tcp.accept.tap(api.name, (ctx) => { globalThis.__tapgateTcpTls.push(ctx.tls); });
}});`;

describe('TLS in tcp mode', () => {
  let plain: TestServer;
  let secure: TestServer;
  let gw: TestGateway;
  before(async () => {
    plain = await startEchoServer('plain');
    secure = await startEchoServer('secure', pki.origin);
    const certificates = [
      { cert: 'ab.pem', key: 'ab.key' },
      { cert: 'c.pem', key: 'c.key' },
    ];
    gw = await startGateway(
      {
        frontends: {
          terminated: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'plain', plugins: ['./recorder.ts'], tls: { certificates, alpn: ['x-echo'] } },
          reencrypted: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'secure' },
          unverified: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'unknownca' },
          both: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'secure', tls: { certificates } },
        },
        backends: {
          plain: { servers: [{ name: 'p', address: plain.address }] },
          secure: { servers: [{ name: 's', address: secure.address, ssl: true, ca: 'ca.pem' }] },
          unknownca: { retries: 0, servers: [{ name: 's', address: secure.address, ssl: true }] },
        },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key, 'c.pem': pki.c.cert, 'c.key': pki.c.key, 'ca.pem': pki.ca.cert, 'recorder.ts': recorder },
    );
  });
  after(async () => {
    await gw.close();
    await plain.close();
    await secure.close();
  });

  const tlsClient = async (frontend: string, servername: string) => {
    const socket = tls.connect(connectOptions(gw.port(frontend), { servername, ca: pki.ca.cert, ALPNProtocols: ['x-echo'] }));
    await once(socket, 'secureConnect');
    return socket;
  };

  it('a tcp frontend terminates TLS, chooses the certificate by SNI, and the server gets plain bytes', async () => {
    const socket = await tlsClient('terminated', 'c.test');
    assert.equal(namesOf(socket.getPeerX509Certificate()), 'c.test');
    assert.equal(socket.alpnProtocol, 'x-echo');
    assert.equal(await exchange(socket, 'hello', 'plain:hello'.length), 'plain:hello');
    socket.destroy();
  });

  it('tcp plugins see the handshake in ctx.tls', async () => {
    const socket = await tlsClient('terminated', 'x.b.test');
    await exchange(socket, 'x', 'plain:x'.length);
    socket.destroy();
    const tls = seen.at(-1)!;
    assert.equal(tls.sni, 'x.b.test');
    assert.equal(tls.alpn, 'x-echo');
    assert.equal(tls.version, 'TLSv1.3');
    assert.match(tls.cipher!, /^TLS_/);
  });

  it('ssl: true speaks TLS to the server, verified with the CA, for a plain client', async () => {
    const socket = net.connect(gw.port('reencrypted'), '127.0.0.1');
    await once(socket, 'connect');
    assert.equal(await exchange(socket, 'hi', 'secure:hi'.length), 'secure:hi');
    socket.destroy();
  });

  it('a server whose certificate does not verify gets no bytes: the connection is closed', async () => {
    const before = secure.connections;
    const socket = net.connect(gw.port('unverified'), '127.0.0.1');
    await once(socket, 'connect');
    assert.equal(await exchange(socket, 'hi', 1), '');
    assert.equal(secure.connections, before, 'no session reached the server');
  });

  it('TLS on both sides: terminated, then encrypted again to the server', async () => {
    const socket = await tlsClient('both', 'a.test');
    assert.equal(await exchange(socket, 'round', 'secure:round'.length), 'secure:round');
    socket.destroy();
  });
});
