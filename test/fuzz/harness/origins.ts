// The servers behind the gateway under fuzz: an HTTP origin (WebSocket too) that records
// what reached it and anything it found malformed, and a TCP echo server.
import http from 'node:http';
import net from 'node:net';
import { WebSocketServer } from 'ws';

export interface SeenRequest {
  method: string;
  url: string;
  httpVersion: string;
  headers: http.IncomingHttpHeaders;
}

export interface FuzzOrigin {
  address: string;
  /** Requests (and upgrades) that reached the origin, in order; not the auth-request plugin's questions to `/.auth-service/`. */
  readonly seen: SeenRequest[];
  /**
   * What the gateway should never have sent: a request node:http refused to parse
   * (`clientError`), a request without Host, a version other than 1.1, a target not in origin-form.
   */
  readonly anomalies: string[];
  close(): Promise<void>;
}

/**
 * Answers every request 200 with a short body once it has read the body; `/.auth-service/...` is
 * the auth-request service (200, `x-user: fuzz`); an upgrade to `websocket` is accepted
 * and echoes messages, any other upgrade gets 426.
 */
export async function startFuzzOrigin(): Promise<FuzzOrigin> {
  const seen: SeenRequest[] = [];
  const anomalies: string[] = [];
  const check = (req: http.IncomingMessage) => {
    seen.push({ method: req.method!, url: req.url!, httpVersion: req.httpVersion, headers: req.headers });
    if (req.headers.host === undefined) anomalies.push(`a request without Host reached the origin: ${req.method} ${req.url}`);
    if (req.httpVersion !== '1.1') anomalies.push(`a request in HTTP/${req.httpVersion} reached the origin: ${req.method} ${req.url}`);
    // A gateway speaks to an origin in origin-form (RFC 9112 3.2.1), whatever form the client used.
    if (!req.url!.startsWith('/') && !(req.method === 'OPTIONS' && req.url === '*'))
      anomalies.push(`a request target not in origin-form reached the origin: ${req.method} ${req.url}`);
  };
  // Heads up to 64 KiB: the gateway takes 16 KiB from a client and adds its own fields; the origin's
  // limit (node's is 16 KiB too) is not what is under test.
  const server = http.createServer({ requireHostHeader: false, maxHeaderSize: 64 * 1024 }, (req, res) => {
    // The auth-request plugin's questions are the gateway's own requests, not a client's reaching the origin.
    if (!req.url!.startsWith('/.auth-service/')) check(req);
    req.resume();
    req.on('error', () => undefined);
    req.on('end', () => {
      if (req.url!.startsWith('/.auth-service/')) res.writeHead(200, { 'x-user': 'fuzz', 'content-length': '0' }).end();
      else res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=60' }).end('origin\n');
    });
  });
  const wss = new WebSocketServer({ noServer: true });
  wss.on('connection', (ws) => {
    ws.on('error', () => undefined);
    ws.on('message', (data, binary) => ws.send(data, { binary }));
  });
  server.on('upgrade', (req, socket, head) => {
    check(req);
    socket.on('error', () => undefined);
    if (String(req.headers.upgrade).toLowerCase() !== 'websocket')
      return void socket.end('HTTP/1.1 426 Upgrade Required\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
    // A connection the gateway reset or closed mid-request is not a malformed request.
    if (err.code !== 'ECONNRESET' && err.code !== 'HPE_INVALID_EOF_STATE')
      anomalies.push(`the origin could not parse what the gateway sent: ${err.code} ${err.message}`);
    socket.destroy();
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    anomalies,
    close: () => {
      for (const ws of wss.clients) ws.terminate();
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

export interface EchoServer {
  address: string;
  /** Connections accepted so far. */
  readonly connections: () => number;
  close(): Promise<void>;
}

/** Sends back every byte it reads, and ends when the client ends. */
export async function startEchoServer(): Promise<EchoServer> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: false }, (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    address: `127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    connections: () => connections,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
