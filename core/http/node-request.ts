// node:http's IncomingMessage as the lifecycle's ClientRequest (core/http/exchange.ts):
// the server side the gateway ran on first, kept for upgrades' responses and comparisons.
import type { IncomingMessage } from 'node:http';
import type { HttpHeaders } from './context.ts';
import type { ClientRequest } from './exchange.ts';
import { tlsInfoOf } from '../tls/facts.ts';

export function nodeRequest(req: IncomingMessage, bodyAllowed = true): ClientRequest {
  const socket = req.socket;
  const raw = req.rawHeaders;
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.length === 4 && raw[i]!.toLowerCase() === 'host') hosts++;
  const headers = req.headers as HttpHeaders;
  const hasBody = bodyAllowed && (headers['content-length'] !== undefined ? headers['content-length'] !== '0' : headers['transfer-encoding'] !== undefined);
  return {
    method: req.method!,
    url: req.url!,
    httpVersion: req.httpVersion,
    headers,
    hosts,
    client: { address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    local: { address: socket.localAddress ?? '', port: socket.localPort ?? 0 },
    tls: tlsInfoOf(socket),
    body: hasBody ? req : null,
    connection: socket,
    setTimeout: (ms, onTimeout) => void socket.setTimeout(ms, onTimeout),
  };
}
