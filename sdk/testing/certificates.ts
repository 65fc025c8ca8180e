// Certificates made at test time with Node alone: keys by node:crypto, certificates by
// node-forge (Node cannot write X.509 itself), loaded only when a CA is made.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import type Forge from 'node-forge';

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

/** A certificate authority of its own: `issue` makes server and client certificates it signs. */
export class TestCa {
  readonly cert: string;
  readonly #cert: Forge.pki.Certificate;
  readonly #key: Forge.pki.rsa.PrivateKey;

  constructor(readonly name = 'tapgate test CA') {
    const forge = nodeForge();
    const { key, publicKey } = rsaKeys();
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = new Date(Date.now() - day);
    cert.validity.notAfter = new Date(Date.now() + 365 * day);
    const subject = [
      { name: 'commonName', value: name },
      { name: 'organizationName', value: 'tapgate tests' },
    ];
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
    const forge = nodeForge();
    const { publicKey, pem } = rsaKeys();
    const cert = forge.pki.createCertificate();
    cert.publicKey = publicKey;
    cert.serialNumber = serial();
    cert.validity.notBefore = spec.notBefore ?? new Date(Date.now() - day);
    cert.validity.notAfter = spec.notAfter ?? new Date(Date.now() + 90 * day);
    cert.setSubject([
      { name: 'commonName', value: spec.cn },
      { name: 'organizationName', value: 'tapgate tests' },
    ]);
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

function rsaKeys(): { key: Forge.pki.rsa.PrivateKey; publicKey: Forge.pki.rsa.PublicKey; pem: string } {
  const forge = nodeForge();
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  return {
    key: forge.pki.privateKeyFromPem(privateKey) as Forge.pki.rsa.PrivateKey,
    publicKey: forge.pki.publicKeyFromPem(publicKey) as Forge.pki.rsa.PublicKey,
    pem: privateKey,
  };
}

/** A positive serial number (its high bit clear), 16 random bytes. */
function serial(): string {
  const bytes = randomBytes(16);
  bytes[0]! &= 0x7f;
  return bytes.toString('hex');
}

let forgeModule: typeof Forge | undefined;
/** node-forge, required on first use: a test without certificates never loads it. */
const nodeForge = (): typeof Forge => (forgeModule ??= createRequire(import.meta.url)('node-forge') as typeof Forge);
