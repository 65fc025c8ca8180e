// The facts of a client's TLS connection that plugins and matchers see as `ctx.tls`:
// read once per connection, when its first request or session needs them.
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { TlsInfo } from '../../sdk/context.ts';

const known = new WeakMap<Socket, TlsInfo>();

/** `ctx.tls` for a connection the gateway terminates TLS on; undefined for plain TCP. */
export function tlsInfoOf(socket: Socket): TlsInfo | undefined {
  if (!(socket as TLSSocket).encrypted) return undefined;
  let info = known.get(socket);
  if (!info) known.set(socket, (info = readTlsInfo(socket as TLSSocket)));
  return info;
}

function readTlsInfo(socket: TLSSocket): TlsInfo {
  const info: { -readonly [K in keyof TlsInfo]: TlsInfo[K] } = {
    sni: socket.servername || undefined,
    alpn: socket.alpnProtocol || undefined,
    version: socket.getProtocol() ?? undefined,
    cipher: socket.getCipher()?.standardName,
  };
  const peer = socket.getPeerX509Certificate();
  if (peer) {
    info.clientCert = Object.freeze({
      subject: peer.subject.replaceAll('\n', ', '),
      issuer: peer.issuer.replaceAll('\n', ', '),
      fingerprint256: peer.fingerprint256,
      serialNumber: peer.serialNumber,
      authorized: socket.authorized,
      ...(socket.authorizationError ? { error: String(socket.authorizationError) } : {}),
    });
  }
  return Object.freeze(info);
}
