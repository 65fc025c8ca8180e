// TLS to a server (re-encryption): what every connection to it is opened with, by the
// HTTP pool, the TCP proxy and the health checks alike.
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { ServerConfig } from '../../sdk/config.ts';
import type { KeyPath } from '../config/problems.ts';
import { loadCa, type TlsProblems } from './files.ts';

export interface ServerTls {
  /**
   * For tls.connect: the CA (Node's roots when absent), whether to verify, and the SNI
   * name. `''` for an IP address without `sni`: no SNI is sent, and node checks the
   * certificate against the address, in its IP subjectAltNames (an explicit `''`, since
   * node's https would otherwise send the Host header's name).
   */
  readonly connect: Readonly<Pick<ConnectionOptions, 'ca' | 'rejectUnauthorized' | 'servername'>>;
  /** The name the server's certificate is checked against: the SNI name, or the address. */
  readonly name: string;
}

/** A server's TLS settings; undefined without `ssl: true`, or when they have problems (reported). */
export function buildServerTls(s: ServerConfig, host: string, dir: string, path: KeyPath, problems: TlsProblems): ServerTls | undefined {
  if (!s.ssl) {
    for (const key of ['verify', 'ca', 'sni'] as const) {
      if (s[key] !== undefined)
        problems.error([...path, key], `"${key}" applies to TLS connections, but this server has no ssl: true`, 'add ssl: true, or remove it');
    }
    return undefined;
  }
  if (s.sni !== undefined && isIP(s.sni)) {
    problems.error(
      [...path, 'sni'],
      `"${s.sni}" is an IP address; SNI carries host names only (RFC 6066)`,
      'remove sni: the certificate is then checked against the address',
    );
    return undefined;
  }
  const ca = s.ca === undefined ? undefined : loadCa(dir, s.ca, [...path, 'ca'], problems);
  if (s.ca !== undefined && !ca) return undefined;
  const servername = s.sni ?? (isIP(host) ? '' : host);
  return {
    connect: { ...(ca ? { ca } : {}), rejectUnauthorized: s.verify ?? true, servername },
    name: servername || host,
  };
}
