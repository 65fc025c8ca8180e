// What `tapgate check` says about TLS settings and files: errors that name the file,
// the key path and what was expected; certificates outside their validity as warnings.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { checkConfig } from '../../../core/config/check.ts';
import type { Problem } from '../../../core/config/problems.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { tempDir } from '../../helpers/gateway.ts';
import { testPki } from './pki.ts';

const pki = testPki();
const day = 24 * 3600 * 1000;
const made: string[] = [];
after(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

async function check(yaml: string, files: Record<string, string>): Promise<{ ok: boolean; problems: Problem[] }> {
  const dir = tempDir();
  made.push(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  writeFileSync(join(dir, 'tapgate.yaml'), yaml);
  const result = await checkConfig(join(dir, 'tapgate.yaml'), { builtins, logger: createLogger('silent') });
  return { ok: result.ok, problems: result.problems };
}

/** The problem at `path`; fails when there is none, or several. */
function at(problems: Problem[], path: string): Problem {
  const found = problems.filter((p) => p.path === path);
  assert.equal(
    found.length,
    1,
    `one problem at ${path}, found: ${JSON.stringify(
      problems.map((p) => `${p.severity} ${p.path}: ${p.message}`),
      null,
      1,
    )}`,
  );
  return found[0]!;
}

const good = { 'good.pem': pki.ab.cert, 'good.key': pki.ab.key, 'other.key': pki.c.key, 'ca.pem': pki.ca.cert };

describe('tapgate check: TLS', () => {
  it('reports unreadable, unparsable and mismatched files, each at its key with what was expected', async () => {
    const yaml = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    tls:
      certificates:
        - { cert: good.pem, key: good.key }
        - { cert: missing.pem, key: good.key }
        - { cert: good.pem, key: other.key }
        - { cert: garbage.pem, key: garbage.key }
      client_ca: nope/ca.pem
backends:
  app:
    servers:
      - { name: a, address: 127.0.0.1:1, ssl: true, ca: missing-ca.pem }
`;
    const { ok, problems } = await check(yaml, {
      ...good,
      'garbage.pem': 'not a certificate\n',
      'garbage.key': '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    });
    assert.equal(ok, false);
    const missing = at(problems, 'frontends.web.tls.certificates[1].cert');
    assert.equal(missing.severity, 'error');
    assert.equal(missing.message, 'cannot read certificate "missing.pem": no such file');
    assert.match(missing.hint!, /expected a readable PEM file; relative paths start at the configuration's folder/);
    assert.equal(missing.line, 8);

    const mismatched = at(problems, 'frontends.web.tls.certificates[2].key');
    assert.equal(mismatched.message, '"other.key" is not the private key of certificate "good.pem" (a.test, *.b.test)');
    assert.equal(mismatched.hint, 'expected the key the certificate was issued for');

    assert.equal(at(problems, 'frontends.web.tls.certificates[3].cert').message, '"garbage.pem" holds no PEM certificate');
    assert.equal(at(problems, 'frontends.web.tls.certificates[3].cert').hint, 'expected a file with -----BEGIN CERTIFICATE----- blocks');
    assert.match(at(problems, 'frontends.web.tls.certificates[3].key').message, /^"garbage.key" is not a usable private key: /);
    assert.equal(at(problems, 'frontends.web.tls.client_ca').message, 'cannot read CA file "nope/ca.pem": no such file');
    assert.equal(at(problems, 'backends.app.servers[0].ca').message, 'cannot read CA file "missing-ca.pem": no such file');
    assert.equal(problems.length, 6, 'nothing else, the good certificate included');
  });

  it('a certificate that has expired, or is not valid yet, is a warning: the configuration still serves', async () => {
    const expired = pki.ca.issue({ cn: 'old.test', dns: ['old.test'], notBefore: new Date(Date.now() - 30 * day), notAfter: new Date(Date.now() - day) });
    const future = pki.ca.issue({ cn: 'new.test', dns: ['new.test'], notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 30 * day) });
    const yaml = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    tls:
      certificates:
        - { cert: expired.pem, key: expired.key }
        - { cert: future.pem, key: future.key }
backends:
  app:
    servers: [ { name: a, address: 127.0.0.1:1 } ]
`;
    const { ok, problems } = await check(yaml, {
      'expired.pem': expired.cert,
      'expired.key': expired.key,
      'future.pem': future.cert,
      'future.key': future.key,
    });
    assert.equal(ok, true);
    const old = at(problems, 'frontends.web.tls.certificates[0].cert');
    assert.equal(old.severity, 'warning');
    assert.match(old.message, /^certificate "expired.pem" \(old.test\) expired on \d{4}-\d\d-\d\dT/);
    assert.equal(old.hint, 'clients will refuse it; renew it');
    const early = at(problems, 'frontends.web.tls.certificates[1].cert');
    assert.equal(early.severity, 'warning');
    assert.match(early.message, /^certificate "future.pem" \(new.test\) is not valid before /);
    assert.equal(problems.length, 2);
  });

  it('reports settings that cannot work together', async () => {
    const yaml = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    tls:
      certificates:
        - { cert: good.pem, key: good.key }
        - { cert: good.pem, key: good.key, names: ["bad name"] }
      alpn: [h3, http/1.1]
      ciphers: NOT-A-CIPHER
      client_verify: required
backends:
  app:
    servers:
      - { name: a, address: 127.0.0.1:1, sni: x.test }
      - { name: b, address: 127.0.0.1:2, ssl: true, sni: 10.0.0.1 }
      - { name: c, address: 127.0.0.1:3, verify: false }
`;
    const { ok, problems } = await check(yaml, good);
    assert.equal(ok, false);
    assert.equal(at(problems, 'frontends.web.tls.alpn[0]').message, 'an http frontend speaks h2 and HTTP/1.x only, found "h3"');
    assert.match(at(problems, 'frontends.web.tls.ciphers').message, /^OpenSSL refuses the cipher list: /);
    assert.equal(
      at(problems, 'frontends.web.tls.client_verify').message,
      'client_verify: required needs client_ca, the CA file client certificates are checked against',
    );
    assert.equal(at(problems, 'frontends.web.tls.certificates[1].names[0]').message, '"bad name" is not a host name');
    assert.equal(at(problems, 'backends.app.servers[0].sni').message, '"sni" applies to TLS connections, but this server has no ssl: true');
    assert.match(at(problems, 'backends.app.servers[1].sni').message, /is an IP address; SNI carries host names only/);
    assert.equal(at(problems, 'backends.app.servers[2].verify').message, '"verify" applies to TLS connections, but this server has no ssl: true');
    assert.equal(
      problems.length,
      7,
      JSON.stringify(
        problems.map((p) => `${p.path}: ${p.message}`),
        null,
        1,
      ),
    );
  });

  it('warns about a certificate SNI can never choose', async () => {
    const yaml = `frontends:
  web:
    bind: 127.0.0.1:0
    default_backend: app
    tls:
      certificates:
        - { cert: good.pem, key: good.key }
        - { cert: good.pem, key: good.key }
backends:
  app:
    servers: [ { name: a, address: 127.0.0.1:1 } ]
`;
    const { ok, problems } = await check(yaml, good);
    assert.equal(ok, true);
    const shadowed = at(problems, 'frontends.web.tls.certificates[1]');
    assert.equal(shadowed.severity, 'warning');
    assert.equal(shadowed.message, 'every name of certificate "good.pem" (a.test, *.b.test) is served by an earlier certificate, so it is never chosen');
  });

  it('a tcp frontend may offer any ALPN protocol', async () => {
    const yaml = `frontends:
  db:
    bind: 127.0.0.1:0
    mode: tcp
    default_backend: db
    tls: { certificates: [ { cert: good.pem, key: good.key } ], alpn: [h2, postgresql] }
backends:
  db:
    servers: [ { name: a, address: 127.0.0.1:1 } ]
`;
    const { ok, problems } = await check(yaml, good);
    assert.deepEqual(problems, []);
    assert.equal(ok, true);
  });
});
