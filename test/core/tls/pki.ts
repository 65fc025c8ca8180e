// A test CA and the certificates it issues, made at test time with Node alone: keys by
// node:crypto, certificates by node-forge (Node cannot write X.509 itself).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import forge from 'node-forge';

export interface Issued {
  /** PEM certificate. */
  cert: string;
  /** PEM private key (PKCS#8). */
  key: string;
}

export interface CertificateSpec {
  /** Subject CN. */
  cn: string;
  /** DNS subjectAltNames. */
  dns?: string[];
  /** IP subjectAltNames. */
  ips?: string[];
  /** For a client (extendedKeyUsage clientAuth) rather than a server. */
  client?: boolean;
  notBefore?: Date;
  notAfter?: Date;
}

const day = 24 * 3600 * 1000;

export class TestCa {
  readonly cert: string;
  readonly #cert: forge.pki.Certificate;
  readonly #key: forge.pki.rsa.PrivateKey;

  constructor(readonly name: string) {
    const { key, publicKey } = rsaKeys();
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - day);
    cert.validity.notAfter = new Date(Date.now() + 365 * day);
    const subject = [{ name: 'commonName', value: name }, { name: 'organizationName', value: 'tapgate tests' }];
    cert.setSubject(subject);
    cert.setIssuer(subject);
    cert.setExtensions([
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
      { name: 'subjectKeyIdentifier' },
    ]);
    cert.sign(key, forge.md.sha256.create());
    this.#cert = cert;
    this.#key = key;
    this.cert = forge.pki.certificateToPem(cert);
  }

  issue(spec: CertificateSpec): Issued {
    const { publicKey, pem } = rsaKeys();
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = spec.notBefore ?? new Date(Date.now() - day);
    cert.validity.notAfter = spec.notAfter ?? new Date(Date.now() + 90 * day);
    cert.setSubject([{ name: 'commonName', value: spec.cn }, { name: 'organizationName', value: 'tapgate tests' }]);
    cert.setIssuer(this.#cert.subject.attributes);
    const altNames = [...(spec.dns ?? []).map((value) => ({ type: 2, value })), ...(spec.ips ?? []).map((ip) => ({ type: 7, ip }))];
    cert.setExtensions([
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: !spec.client, clientAuth: !!spec.client },
      ...(altNames.length ? [{ name: 'subjectAltName', altNames }] : []),
      { name: 'subjectKeyIdentifier' },
      { name: 'authorityKeyIdentifier', keyIdentifier: this.#cert.generateSubjectKeyIdentifier().getBytes() },
    ]);
    cert.sign(this.#key, forge.md.sha256.create());
    return { cert: forge.pki.certificateToPem(cert), key: pem };
  }
}

function rsaKeys(): { key: forge.pki.rsa.PrivateKey; publicKey: forge.pki.rsa.PublicKey; pem: string } {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return { key: forge.pki.privateKeyFromPem(privateKey) as forge.pki.rsa.PrivateKey, publicKey: forge.pki.publicKeyFromPem(publicKey) as forge.pki.rsa.PublicKey, pem: privateKey };
}

/** A positive serial number (its high bit clear), 16 random bytes. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

export interface TestPki {
  ca: TestCa;
  /** a.test and *.b.test */
  ab: Issued;
  /** c.test */
  c: Issued;
  /** 127.0.0.1 (IP SAN), for origins */
  origin: Issued;
  /** A client certificate, CN=alice */
  client: Issued;
}

let made: TestPki | undefined;

/** The certificates the TLS tests share, made once per test file. */
export function testPki(): TestPki {
  if (made) return made;
  const ca = new TestCa('tapgate test CA');
  made = {
    ca,
    ab: ca.issue({ cn: 'a.test', dns: ['a.test', '*.b.test'] }),
    c: ca.issue({ cn: 'c.test', dns: ['c.test'] }),
    origin: ca.issue({ cn: 'origin', ips: ['127.0.0.1'] }),
    client: ca.issue({ cn: 'alice', client: true }),
  };
  return made;
}
