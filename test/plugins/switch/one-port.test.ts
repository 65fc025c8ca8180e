// One TCP port, several protocols: the frontend inspects each connection's first bytes
// and routes on them — SSH to an SSH double, TLS passed through by SNI to a TLS origin
// (bytes untouched), other TLS terminated by an HTTP frontend it is handed to, plain
// HTTP handed to another HTTP frontend, and a silent client (its server speaks first)
// to the default backend once the inspect delay is over. All at the same time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import tls from 'node:tls';
import http from 'node:http';
import https from 'node:https';
import { once } from 'node:events';
import { startGateway, startOrigin, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { testPki } from '../../core/tls/pki.ts';

const pki = testPki();
const db = pki.ca.issue({ cn: 'db.test', dns: ['db.test'] });

/** A TCP server on 127.0.0.1:0. */
async function tcpServer(onConnection: (s: net.Socket) => void, secure?: tls.TlsOptions): Promise<net.Server & { address(): net.AddressInfo }> {
  const server = secure ? tls.createServer(secure, onConnection) : net.createServer(onConnection);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return server as net.Server & { address(): net.AddressInfo };
}
const at = (s: net.Server) => `127.0.0.1:${(s.address() as net.AddressInfo).port}`;

/** Reads from `socket` until `text` has arrived (or it closes); returns everything read. */
function readUntil(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const onData = (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes(text)) done();
    };
    const done = () => {
      socket.off('data', onData);
      resolve(seen);
    };
    socket.on('data', onData);
    socket.once('close', done);
    socket.once('error', reject);
  });
}

describe('one port, several protocols (tcp inspection)', () => {
  let gw: TestGateway;
  let sshd: net.Server;
  let dbServer: net.Server;
  let smtp: net.Server;
  let web: TestOrigin;
  let secureWeb: TestOrigin;

  before(async () => {
    // An SSH double: identifies itself, then echoes.
    sshd = await tcpServer((s) => {
      s.write('SSH-2.0-TestSSH_1.0\r\n');
      s.on('data', (d) => s.write(`echo:${d}`));
    });
    dbServer = await tcpServer((s) => s.on('data', (d) => s.write(`db:${d}`)), { cert: db.cert, key: db.key });
    // A server that speaks first, as SMTP does.
    smtp = await tcpServer((s) => {
      s.write('220 smtp.test ESMTP\r\n');
      s.on('data', () => s.end('221 bye\r\n'));
    });
    web = await startOrigin('plain-web');
    secureWeb = await startOrigin('secure-web', (req, res) => res.end(`secure-web ${req.headers['x-forwarded-proto']}`));
    gw = await startGateway(
      {
        frontends: {
          edge: {
            bind: '127.0.0.1:0',
            mode: 'tcp',
            inspect_delay: '300ms',
            default_backend: 'smtp',
            routes: [
              { name: 'ssh', match: { protocol: 'ssh' }, backend: 'ssh' },
              { name: 'db', match: { sni: 'db.test' }, backend: 'db' },
              { name: 'https', match: { protocol: 'tls' }, frontend: 'secure' },
              { name: 'http', match: { protocol: 'http' }, frontend: 'web' },
            ],
          },
          web: { default_backend: 'web' },
          secure: { default_backend: 'secure', tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } },
        },
        backends: {
          ssh: { servers: [{ name: 's', address: at(sshd) }] },
          db: { servers: [{ name: 's', address: at(dbServer) }] },
          smtp: { servers: [{ name: 's', address: at(smtp) }] },
          web: { servers: [{ name: 's', address: web.address }] },
          secure: { servers: [{ name: 's', address: secureWeb.address }] },
        },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key },
    );
  });
  after(async () => {
    await gw.close();
    for (const s of [sshd, dbServer, smtp]) s.close();
    await web.close();
    await secureWeb.close();
  });

  const ssh = async () => {
    const s = net.connect(gw.port(), '127.0.0.1');
    s.write('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n');
    const got = await readUntil(s, 'echo:SSH-2.0-OpenSSH');
    s.destroy();
    return got;
  };
  const passThrough = async () => {
    const s = tls.connect({ port: gw.port(), host: '127.0.0.1', servername: 'db.test', ca: pki.ca.cert });
    await once(s, 'secureConnect');
    const cn = s.getPeerCertificate().subject.CN;
    s.write('ping');
    const got = await readUntil(s, 'db:ping');
    s.destroy();
    return { cn, got };
  };
  const terminated = () =>
    new Promise<string>((resolve, reject) => {
      https
        .get({ host: '127.0.0.1', port: gw.port(), servername: 'a.test', ca: pki.ca.cert, path: '/', agent: false, headers: { host: 'a.test' } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(`${(res.socket as tls.TLSSocket).getPeerCertificate?.().subject?.CN ?? ''} ${body}`));
        })
        .on('error', reject);
    });
  const plain = () =>
    new Promise<string[]>((resolve, reject) => {
      // Two requests on one keep-alive connection: the hand-off keeps the connection.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const get = () =>
        new Promise<string>((ok, fail) => {
          http.get({ host: '127.0.0.1', port: gw.port(), path: '/', agent }, (res) => {
            let body = '';
            res.on('data', (d) => (body += d));
            res.on('end', () => ok(body));
          }).on('error', fail);
        });
      get().then(async (a) => {
        const b = await get();
        agent.destroy();
        resolve([a, b, String(web.connections)]);
      }, reject);
    });
  const silent = async () => {
    const started = performance.now();
    const s = net.connect(gw.port(), '127.0.0.1');
    const got = await readUntil(s, '220 ');
    s.destroy();
    return { got, waited: performance.now() - started };
  };

  it('routes SSH, TLS by SNI (passed through), other TLS (terminated), HTTP and a silent client, all at once', async () => {
    const connectionsBefore = web.connections;
    const [sshOut, db, secure, plainOut, smtpOut] = await Promise.all([ssh(), passThrough(), terminated(), plain(), silent()]);
    assert.match(sshOut, /^SSH-2\.0-TestSSH_1\.0\r\necho:SSH-2\.0-OpenSSH_9\.6p1/, 'the SSH double got the client banner');
    assert.equal(db.cn, 'db.test', 'the TLS origin itself answered the handshake: pass-through');
    assert.equal(db.got, 'db:ping');
    assert.equal(secure, 'a.test secure-web https', 'terminated by the secure frontend with its certificate');
    assert.deepEqual(plainOut.slice(0, 2), ['plain-web', 'plain-web']);
    assert.equal(web.connections - connectionsBefore, 1, 'both requests reused one upstream connection');
    assert.match(smtpOut.got, /^220 smtp\.test/);
    assert.ok(smtpOut.waited >= 250, `the silent client waited for the inspect delay (${smtpOut.waited.toFixed(0)} ms)`);
  });

  it('the detected protocol and SNI reach route conditions one connection at a time, 40 mixed connections', async () => {
    const runs = Array.from({ length: 40 }, (_, i) => (i % 3 === 0 ? ssh().then((x) => assert.match(x, /echo:SSH/)) : i % 3 === 1 ? passThrough().then((x) => assert.equal(x.got, 'db:ping')) : plain().then((x) => assert.equal(x[0], 'plain-web'))));
    await Promise.all(runs);
  });
});
