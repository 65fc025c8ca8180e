// TLS clients for the tests: a bare handshake (what the client sees of the server), an
// HTTPS request over one fresh connection, and small servers to stand behind a gateway.
import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface ClientOptions {
  /** SNI name; none sent when absent (the host is an IP). */
  servername?: string;
  /** CA trusted; no verification at all when absent. */
  ca?: string;
  cert?: string;
  key?: string;
  minVersion?: tls.SecureVersion;
  maxVersion?: tls.SecureVersion;
  ciphers?: string;
  ALPNProtocols?: string[];
}

export interface Handshake {
  /** The certificate the server presented. */
  peer: X509Certificate;
  alpn: string | false;
  version: string | null;
  authorized: boolean;
}

/** `tls.connect` options for 127.0.0.1:`port`. With a CA, the chain is verified (names are checked by the tests themselves). */
export function connectOptions(port: number, o: ClientOptions): tls.ConnectionOptions {
  return {
    host: '127.0.0.1',
    port,
    ...o,
    rejectUnauthorized: o.ca !== undefined,
    checkServerIdentity: () => undefined,
  };
}

/** Completes a handshake and hangs up: what the client saw. Rejects when the handshake fails. */
export async function handshake(port: number, o: ClientOptions = {}): Promise<Handshake> {
  const socket = tls.connect(connectOptions(port, o));
  try {
    await once(socket, 'secureConnect');
    return { peer: socket.getPeerX509Certificate()!, alpn: socket.alpnProtocol ?? false, version: socket.getProtocol(), authorized: socket.authorized };
  } finally {
    socket.destroy();
  }
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  peer: X509Certificate | undefined;
}

/** One HTTPS request on its own connection. */
export function httpsGet(port: number, path: string, o: ClientOptions & { headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    // servername '': https would otherwise send the Host header's name by SNI.
    const req = https.get(
      { ...connectOptions(port, o), servername: o.servername ?? '', path, agent: false, headers: { host: o.servername ?? 'gateway.test', ...o.headers } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, peer: (res.socket as tls.TLSSocket).getPeerX509Certificate() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('no answer within 5 s')));
  });
}

/** The DNS names of a certificate, for assertions: `a.test, *.b.test`. */
export const namesOf = (x: X509Certificate | undefined): string =>
  (x?.subjectAltName ?? '')
    .split(', ')
    .map((n) => n.replace(/^DNS:/, ''))
    .join(', ');

export interface TestServer {
  port: number;
  address: string;
  /** Connections accepted (handshakes done, for TLS). */
  connections: number;
  close(): Promise<void>;
}

/** An HTTPS origin on 127.0.0.1:0 answering `name`, with the SNI it was asked for in `x-sni`. */
export async function startHttpsOrigin(name: string, cert: { cert: string; key: string }): Promise<TestServer> {
  const server = https.createServer(cert, (req, res) => {
    req.resume();
    const sni = (req.socket as tls.TLSSocket).servername;
    res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': name, 'x-sni': sni || 'none' });
    res.end(name);
  });
  return serve(server, () => server.closeAllConnections(), 'secureConnection');
}

/** A TCP echo server (TLS when `cert` is given) that says `name:` before echoing. */
export async function startEchoServer(name: string, cert?: { cert: string; key: string }): Promise<TestServer> {
  const sockets = new Set<net.Socket>();
  const onSocket = (socket: net.Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.write(`${name}:`);
    socket.pipe(socket);
  };
  const server = cert ? tls.createServer(cert, onSocket) : net.createServer(onSocket);
  return serve(server, () => sockets.forEach((s) => s.destroy()), cert ? 'secureConnection' : 'connection');
}

async function serve(server: net.Server, cut: () => void, event: 'connection' | 'secureConnection'): Promise<TestServer> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as net.AddressInfo).port;
  const s: TestServer = {
    port,
    address: `127.0.0.1:${port}`,
    connections: 0,
    close: () => {
      cut();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
  server.on(event, () => s.connections++);
  return s;
}

/** Sends `text` on a socket and reads until `expected` characters came, or the socket ended or was reset. */
export async function exchange(socket: net.Socket, text: string, expected: number): Promise<string> {
  let got = '';
  socket.setTimeout(5000, () => socket.destroy());
  socket.setEncoding('utf8');
  socket.write(text);
  try {
    for await (const chunk of socket) {
      got += chunk as string;
      if (got.length >= expected) break;
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET') throw err;
  }
  return got;
}
