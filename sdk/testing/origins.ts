// Fake origins for the harness: HTTP servers (echoing, saying their name, or any
// handler), TCP servers, either over TLS; all on 127.0.0.1:0, counting what they saw.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

/** What an HTTP origin does with a request: a node:http handler, `'echo'` or `'name'`. */
export type HttpOriginHandler = http.RequestListener | 'echo' | 'name';

/**
 * An origin: `'echo'` answers JSON describing the request (origin, method, url,
 * headers, body); `'name'` answers its own name as text; a function is a node:http
 * handler; `{ http, upgrade }` adds a handler of upgrade requests (WebSocket and
 * others: the socket is the handler's); `{ tcp }` is a TCP server handed each
 * connection; `tls` (a certificate and key) serves either over TLS. Every answer of
 * `'echo'` and `'name'` carries `x-origin: <name>`.
 */
export type OriginHandler =
  | HttpOriginHandler
  | { http: HttpOriginHandler; upgrade?: (req: http.IncomingMessage, socket: Duplex, head: Buffer) => void; tls?: TlsIdentity }
  | { tcp: (socket: net.Socket) => void; tls?: TlsIdentity };

/** A certificate and its private key, both PEM. */
export interface TlsIdentity {
  cert: string;
  key: string;
}

export interface TestOrigin {
  readonly name: string;
  /** `127.0.0.1:<port>`, as a server's `address`. */
  readonly address: string;
  readonly port: number;
  /** HTTP requests it has seen, upgrades included, in order (none for a TCP origin). */
  readonly requests: readonly { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  /** Connections it has accepted. */
  readonly connections: number;
  /** Stops it, ending its connections: a server gone down. (The harness stops every origin when it closes.) */
  close(): Promise<void>;
}

export async function startOrigin(name: string, handler: OriginHandler): Promise<TestOrigin> {
  const spec = typeof handler === 'object' ? handler : { http: handler };
  const requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[] = [];
  let server: net.Server;
  if ('tcp' in spec) {
    server = spec.tls ? tls.createServer(spec.tls, spec.tcp) : net.createServer(spec.tcp);
  } else {
    const answer = httpAnswer(name, spec.http);
    const listener: http.RequestListener = (req, res) => {
      requests.push({ method: req.method!, url: req.url!, headers: req.headers });
      answer(req, res);
    };
    server = spec.tls ? https.createServer(spec.tls, listener) : http.createServer(listener);
    const { upgrade } = spec;
    if (upgrade) {
      server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        requests.push({ method: req.method!, url: req.url!, headers: req.headers });
        upgrade(req, socket, head);
      });
    }
  }
  let connections = 0;
  let closed: Promise<void> | undefined;
  const sockets = new Set<net.Socket>();
  server.on(spec.tls ? 'secureConnection' : 'connection', () => connections++);
  // Every accepted socket, TLS or not, so that closing ends them all.
  server.on('connection', (socket: net.Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    get connections() {
      return connections;
    },
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      })),
  };
}

function httpAnswer(name: string, handler: HttpOriginHandler): http.RequestListener {
  if (typeof handler === 'function') return handler;
  if (handler === 'name') {
    return (req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': name }).end(name));
    };
  }
  return (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'x-origin': name });
      res.end(JSON.stringify({ origin: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  };
}

/**
 * Replaces each string `origin:<name>` with that origin's address, and
 * `<scheme>://origin:<name>` inside a URL with its address (`http://origin:auth/verify`).
 */
export function withOrigins(value: unknown, origins: Readonly<Record<string, TestOrigin>>): unknown {
  const address = (name: string) => {
    const origin = origins[name];
    if (!origin) throw new Error(`origin:${name}: no such origin (origins: ${Object.keys(origins).join(', ') || 'none'})`);
    return origin.address;
  };
  if (typeof value === 'string') {
    if (value.startsWith('origin:')) return address(value.slice('origin:'.length));
    return value.replace(/^([a-z][a-z0-9+.-]*:\/\/)origin:([\w-]+)/i, (_, scheme: string, name: string) => scheme + address(name));
  }
  if (Array.isArray(value)) return value.map((v) => withOrigins(v, origins));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withOrigins(v, origins)]));
  return value;
}

/** A port nobody listens on now (bound, then released): a server that refuses connections, or a fixed port to bind. */
export async function unusedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Starts every origin; on a failure, stops those started. */
export async function startOrigins(handlers: Record<string, OriginHandler> = {}): Promise<Record<string, TestOrigin>> {
  const origins: Record<string, TestOrigin> = {};
  try {
    for (const [name, handler] of Object.entries(handlers)) origins[name] = await startOrigin(name, handler);
  } catch (err) {
    await Promise.all(Object.values(origins).map((o) => o.close()));
    throw err;
  }
  return origins;
}
