// Certificate material read from files and checked the way a person wants to hear about
// it at `tapgate check`: which file, under which key, what is wrong, what was expected.
// Unusable material is an error; a certificate outside its validity period a warning
// (it loads, but clients will refuse it).
import { X509Certificate, createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { KeyPath } from '../config/problems.ts';

/** Where TLS problems go: the generation turns them into located problems. */
export interface TlsProblems {
  error(path: KeyPath, message: string, hint?: string): void;
  warning(path: KeyPath, message: string, hint?: string): void;
}

export interface LoadedCertificate {
  /** The file's PEM text: the certificate, and the chain after it when there is one. */
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly x509: X509Certificate;
}

const pemCertificate = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** A file relative to the configuration's folder, or an error at `path`. */
export function readTlsFile(dir: string, file: string, path: KeyPath, problems: TlsProblems, what: string): Buffer | undefined {
  try {
    return readFileSync(resolve(dir, file));
  } catch (err) {
    problems.error(
      path,
      `cannot read ${what} "${file}": ${reasonOf(err)}`,
      `expected a readable PEM file; relative paths start at the configuration's folder, ${dir}`,
    );
    return undefined;
  }
}

/** A certificate and its key: each readable and parsable, the key the certificate's own. */
export function loadCertificate(
  dir: string,
  spec: { cert: string; key: string },
  path: KeyPath,
  problems: TlsProblems,
  now = Date.now(),
): LoadedCertificate | undefined {
  const certPath = [...path, 'cert'];
  const keyPath = [...path, 'key'];
  const cert = readTlsFile(dir, spec.cert, certPath, problems, 'certificate');
  const key = readTlsFile(dir, spec.key, keyPath, problems, 'private key');
  const x509 = cert && parseCertificates(cert, spec.cert, certPath, problems)?.[0];
  let privateKey: KeyObject | undefined;
  if (key) {
    try {
      privateKey = createPrivateKey(key);
    } catch (err) {
      problems.error(
        keyPath,
        `"${spec.key}" is not a usable private key: ${reasonOf(err)}`,
        'expected an unencrypted PEM key, e.g. -----BEGIN PRIVATE KEY-----',
      );
    }
  }
  if (!x509 || !privateKey) return undefined;
  if (!x509.checkPrivateKey(privateKey)) {
    problems.error(
      keyPath,
      `"${spec.key}" is not the private key of certificate "${spec.cert}" (${describe(x509)})`,
      'expected the key the certificate was issued for',
    );
    return undefined;
  }
  checkValidity(x509, spec.cert, certPath, problems, now);
  return { cert: cert!, key: key!, x509 };
}

/** A CA bundle: one or more PEM certificates, each parsable. */
export function loadCa(dir: string, file: string, path: KeyPath, problems: TlsProblems): Buffer | undefined {
  const pem = readTlsFile(dir, file, path, problems, 'CA file');
  return pem && parseCertificates(pem, file, path, problems) ? pem : undefined;
}

function parseCertificates(pem: Buffer, file: string, path: KeyPath, problems: TlsProblems): X509Certificate[] | undefined {
  const blocks = pem.toString('latin1').match(pemCertificate);
  if (!blocks) {
    problems.error(path, `"${file}" holds no PEM certificate`, 'expected a file with -----BEGIN CERTIFICATE----- blocks');
    return undefined;
  }
  try {
    return blocks.map((b) => new X509Certificate(b));
  } catch (err) {
    problems.error(path, `"${file}" is not a valid PEM certificate: ${reasonOf(err)}`, 'expected a file with -----BEGIN CERTIFICATE----- blocks');
    return undefined;
  }
}

function checkValidity(x509: X509Certificate, file: string, path: KeyPath, problems: TlsProblems, now: number): void {
  const from = Date.parse(x509.validFrom);
  const to = Date.parse(x509.validTo);
  if (now > to)
    problems.warning(path, `certificate "${file}" (${describe(x509)}) expired on ${new Date(to).toISOString()}`, 'clients will refuse it; renew it');
  else if (now < from)
    problems.warning(
      path,
      `certificate "${file}" (${describe(x509)}) is not valid before ${new Date(from).toISOString()}`,
      'clients will refuse it until then',
    );
}

/**
 * The host names a certificate is for: its DNS subjectAltNames (`*.example.com`
 * included), or its subject's CN when it has none. Lower case.
 */
export function certificateNames(x509: X509Certificate): string[] {
  const dns = (x509.subjectAltName ?? '')
    .split(/,\s*/)
    .filter((e) => e.startsWith('DNS:'))
    .map((e) => e.slice(4).toLowerCase());
  if (dns.length) return dns.filter(isHostPattern);
  const cn = /^CN=(.*)$/m.exec(x509.subject)?.[1]?.toLowerCase();
  return cn && isHostPattern(cn) ? [cn] : [];
}

const label = '[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?';
const hostPattern = new RegExp(`^(?:\\*\\.)?(?:${label}\\.)*${label}$`, 'i');

/** `a.example.com`, or a wildcard one label deep, `*.example.com`. */
export function isHostPattern(name: string): boolean {
  return hostPattern.test(name) && (!name.startsWith('*.') || name.indexOf('.', 2) > 0);
}

/** `a.test, *.b.test` or the subject, for messages. */
function describe(x509: X509Certificate): string {
  const names = certificateNames(x509);
  return names.length ? names.join(', ') : x509.subject.replaceAll('\n', ', ');
}

function reasonOf(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e.code === 'ENOENT') return 'no such file';
  if (e.code === 'EACCES') return 'permission denied';
  if (e.code === 'EISDIR') return 'it is a folder';
  if (e.code === 'ERR_MISSING_PASSPHRASE') return 'it is encrypted';
  return e.message ?? String(err);
}
