// One TCP port, several protocols: the frontend inspects each connection's first bytes
// and routes on them — SSH to an SSH double, TLS passed through by SNI to a TLS origin
// (bytes untouched), other TLS terminated by an HTTP frontend it is handed to, plain
// HTTP handed to another HTTP frontend, and a silent client (its server speaks first)
// to the default backend once the inspect delay is over. All at the same time.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import type tls from 'node:tls';
import { createTestGateway, readUntil, TestCa, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';

const ca = new TestCa();
const ab = ca.issue({ cn: 'a.test', dns: ['a.test', '*.b.test'] });
const db = ca.issue({ cn: 'db.test', dns: ['db.test'] });

describe('one port, several protocols (tcp inspection)', () => {
  let gw: TestGateway;
  let web: TestOrigin;

  before(async () => {
    gw = await createTestGateway({
      config: {
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
          ssh: { servers: [{ name: 's', address: 'origin:sshd' }] },
          db: { servers: [{ name: 's', address: 'origin:db' }] },
          smtp: { servers: [{ name: 's', address: 'origin:smtp' }] },
          web: { servers: [{ name: 's', address: 'origin:plain-web' }] },
          secure: { servers: [{ name: 's', address: 'origin:secure-web' }] },
        },
      },
      origins: {
        // An SSH double: identifies itself, then echoes.
        sshd: {
          tcp: (s) => {
            s.write('SSH-2.0-TestSSH_1.0\r\n');
            s.on('data', (d) => s.write(`echo:${d}`));
          },
        },
        db: { tcp: (s) => s.on('data', (d) => s.write(`db:${d}`)), tls: db },
        // A server that speaks first, as SMTP does.
        smtp: {
          tcp: (s) => {
            s.write('220 smtp.test ESMTP\r\n');
            s.on('data', () => s.end('221 bye\r\n'));
          },
        },
        'plain-web': 'name',
        'secure-web': (req, res) => res.end(`secure-web ${req.headers['x-forwarded-proto']}`),
      },
      files: { 'ab.pem': ab.cert, 'ab.key': ab.key },
    });
    web = gw.origins['plain-web']!;
  });
  after(() => gw?.close());

  const ssh = async () => {
    const s = await gw.tcp();
    s.write('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n');
    const got = await readUntil(s, 'echo:SSH-2.0-OpenSSH');
    s.destroy();
    return got;
  };
  const passThrough = async () => {
    const s: tls.TLSSocket = await gw.tcp(undefined, { servername: 'db.test', ca: ca.cert });
    const cn = s.getPeerCertificate().subject.CN;
    s.write('ping');
    const got = await readUntil(s, 'db:ping');
    s.destroy();
    return { cn, got };
  };
  const terminated = async () => {
    const res = await gw.request({ path: '/', tls: true, servername: 'a.test', ca: ca.cert, headers: { host: 'a.test' }, fresh: true });
    return `${res.certificate?.subject?.CN ?? ''} ${res.body}`;
  };
  // Two requests on one keep-alive connection: the hand-off keeps the connection.
  const plain = async () => {
    const a = (await gw.request('/')).body;
    const b = (await gw.request('/')).body;
    return [a, b, String(web.connections)];
  };
  const silent = async () => {
    const started = performance.now();
    const s = await gw.tcp();
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
    const runs = Array.from({ length: 40 }, (_, i) =>
      i % 3 === 0
        ? ssh().then((x) => assert.match(x, /echo:SSH/))
        : i % 3 === 1
          ? passThrough().then((x) => assert.equal(x.got, 'db:ping'))
          : plain().then((x) => assert.equal(x[0], 'plain-web')),
    );
    await Promise.all(runs);
  });
});
