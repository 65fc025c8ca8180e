// TLS termination on a frontend: its certificates, chosen by the client's SNI name, and
// the server settings they make. Built once per generation (so a reload reads the files
// again) and applied to a listener when it starts and when a reload keeps it.
import { createHash } from 'node:crypto';
import tls, { type SecureContext, type SecureContextOptions } from 'node:tls';
import type { FrontendTlsConfig } from '../../sdk/config.ts';
import type { KeyPath } from '../config/problems.ts';
import type { Mode } from '../../sdk/views.ts';
import { certificateNames, isHostPattern, loadCa, loadCertificate, type TlsProblems } from './files.ts';

export interface FrontendTls {
  /** The first certificate's context options, with what every certificate shares (versions, ciphers, client CA). */
  readonly defaultOptions: SecureContextOptions;
  /** Ask clients for a certificate. */
  readonly requestCert: boolean;
  /** Refuse a client without a valid certificate. */
  readonly rejectUnauthorized: boolean;
  /** Protocols offered by ALPN, in preference order; empty: no ALPN. */
  readonly alpn: readonly string[];
  /** Some SNI name chooses another certificate than the first: the choice must be made per connection. */
  readonly sni: boolean;
  /** The context for an SNI name: the exact name, then a wildcard one label deep, then the first certificate. */
  contextFor(servername: string): SecureContext;
}

/** Builds a frontend's TLS from config; problems are reported, and then there is none. */
export function buildFrontendTls(
  c: FrontendTlsConfig,
  frontend: string,
  mode: Mode,
  dir: string,
  path: KeyPath,
  problems: TlsProblems,
): FrontendTls | undefined {
  let failed = false;
  const report: TlsProblems = {
    error: (p, message, hint) => {
      failed = true;
      problems.error(p, message, hint);
    },
    warning: problems.warning,
  };

  if (mode === 'http') {
    c.alpn?.forEach((p, i) => {
      if (p !== 'h2' && p !== 'http/1.1' && p !== 'http/1.0')
        report.error(
          [...path, 'alpn', i],
          `an http frontend speaks h2 and HTTP/1.x only, found "${p}"`,
          'use [h2, http/1.1], or mode: tcp to pass other protocols to a server',
        );
    });
  }
  const verify = c.client_verify ?? (c.client_ca ? 'required' : 'none');
  if (verify !== 'none' && !c.client_ca)
    report.error([...path, 'client_verify'], `client_verify: ${verify} needs client_ca, the CA file client certificates are checked against`);
  const ca = c.client_ca === undefined ? undefined : loadCa(dir, c.client_ca, [...path, 'client_ca'], report);
  let ciphers = c.ciphers;
  if (ciphers !== undefined) {
    try {
      tls.createSecureContext({ ciphers });
    } catch (err) {
      report.error(
        [...path, 'ciphers'],
        `OpenSSL refuses the cipher list: ${(err as Error).message}`,
        'expected an OpenSSL cipher list, e.g. ECDHE+AESGCM:ECDHE+CHACHA20',
      );
      ciphers = undefined; // said once, here, not again for every certificate
    }
  }

  const shared: SecureContextOptions = {
    minVersion: c.min_version,
    ...(ciphers !== undefined ? { ciphers } : {}),
    ...(ca ? { ca } : {}),
    honorCipherOrder: true,
    // Session resumption with client certificates needs a session id context, the same in every certificate's context.
    sessionIdContext: createHash('sha256').update(`tapgate ${frontend}`).digest('hex').slice(0, 32),
  };
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  let first: { options: SecureContextOptions; context: SecureContext } | undefined;
  c.certificates.forEach((spec, i) => {
    const at: KeyPath = [...path, 'certificates', i];
    spec.names?.forEach((n, j) => {
      if (!isHostPattern(n))
        report.error([...at, 'names', j], `"${n}" is not a host name`, 'expected a name such as a.example.com, or a wildcard one label deep, *.example.com');
    });
    const loaded = loadCertificate(dir, spec, at, report);
    if (!loaded) return;
    const options = { ...shared, cert: loaded.cert, key: loaded.key };
    let context: SecureContext;
    try {
      context = tls.createSecureContext(options);
    } catch (err) {
      report.error(at, `OpenSSL refuses this certificate and key: ${(err as Error).message}`);
      return;
    }
    first ??= { options, context };
    const names = (spec.names ?? certificateNames(loaded.x509)).map((n) => n.toLowerCase());
    let chosenFor = 0;
    for (const name of names) {
      const [table, key] = name.startsWith('*.') ? [wildcard, name.slice(2)] : [exact, name];
      if (table.has(key)) continue; // an earlier certificate has it
      table.set(key, context);
      chosenFor++;
    }
    if (i > 0 && names.length === 0)
      report.warning(
        at,
        `certificate "${spec.cert}" names no host (no DNS subjectAltName, no CN), so SNI never chooses it`,
        'list its host names in names: [...]',
      );
    else if (i > 0 && chosenFor === 0)
      report.warning(at, `every name of certificate "${spec.cert}" (${names.join(', ')}) is served by an earlier certificate, so it is never chosen`);
  });
  if (failed || !first) return undefined;

  const defaults = first;
  const chooses = (table: Map<string, SecureContext>) => [...table.values()].some((context) => context !== defaults.context);
  return {
    defaultOptions: defaults.options,
    requestCert: verify !== 'none',
    rejectUnauthorized: verify === 'required',
    alpn: c.alpn ?? (mode === 'http' ? ['h2', 'http/1.1'] : []),
    sni: chooses(exact) || chooses(wildcard),
    contextFor(servername) {
      const name = servername.toLowerCase();
      const dot = name.indexOf('.');
      return exact.get(name) ?? (dot > 0 ? wildcard.get(name.slice(dot + 1)) : undefined) ?? defaults.context;
    },
  };
}

/** The settings node reads from a TLS server for each new connection. */
interface TlsServerSettings {
  requestCert: boolean;
  rejectUnauthorized: boolean;
  /** ALPN protocols in wire format (RFC 7301); node converts `ALPNProtocols` to this in the constructor. */
  ALPNProtocols: Buffer | undefined;
}

/**
 * Where node keeps the server's SNICallback (a private symbol), read for each new
 * connection; undefined if this node keeps it elsewhere.
 */
function sniCallbackKey(server: tls.Server): symbol | undefined {
  return Object.getOwnPropertySymbols(server).find((s) => s.description === 'snicallback');
}

/**
 * Makes `server` serve `t` from its next connection on: the default certificate, client
 * verification and ALPN. `chooseCertificate` (which reads the listener's current frontend)
 * is asked for each handshake only when SNI has a choice to make: with one certificate,
 * OpenSSL completes the handshake without a trip into JavaScript in its middle.
 */
export function applyServerTls(server: tls.Server, t: FrontendTls, chooseCertificate: NonNullable<tls.TlsOptions['SNICallback']>): void {
  server.setSecureContext(t.defaultOptions);
  const key = sniCallbackKey(server);
  if (key) (server as unknown as Record<symbol, unknown>)[key] = t.sni ? chooseCertificate : undefined;
  const settings = server as unknown as TlsServerSettings;
  settings.requestCert = t.requestCert;
  settings.rejectUnauthorized = t.rejectUnauthorized;
  settings.ALPNProtocols = t.alpn.length ? Buffer.concat(t.alpn.map((p) => Buffer.concat([Buffer.from([Buffer.byteLength(p)]), Buffer.from(p)]))) : undefined;
}
