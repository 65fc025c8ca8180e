// Test helpers: real gateways on port 0, real origins, raw sockets.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { checkConfig } from '../../core/config/check.ts';
import { Gateway } from '../../core/gateway.ts';
import { createLogger, type Logger } from '../../core/log.ts';
import { builtins } from '../../plugins/index.ts';
import { formatProblem } from '../../core/config/problems.ts';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** A fresh folder inside the project (so plugins resolve the project's packages). */
export function tempDir(): string {
  const base = join(root, 'test', '.tmp');
  mkdirSync(base, { recursive: true });
  return mkdtempSync(join(base, 't-'));
}

export interface TestGateway {
  gateway: Gateway;
  dir: string;
  file: string;
  port(frontend?: string): number;
  url(path?: string, frontend?: string): string;
  close(): Promise<void>;
}

/** Writes `config` (an object, or YAML text) and any extra `files` to a temp folder and serves it; `now` replaces the plugins' clock, `logger` the event log (for tests that read it). */
export async function startGateway(
  config: object | string,
  files: Record<string, string> = {},
  options: { now?: () => number; logger?: Logger } = {},
): Promise<TestGateway> {
  const dir = tempDir();
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  const file = join(dir, 'tapgate.yaml');
  const withDefaults = typeof config === 'string' ? config : stringify({ log: { level: 'silent', access: false }, ...config });
  writeFileSync(file, withDefaults);
  const logger = options.logger ?? createLogger(process.env.TAPGATE_TEST_LOG ?? 'silent');
  const result = await checkConfig(file, { builtins, logger, keep: true, now: options.now });
  if (!result.ok || !result.generation) throw new Error(`config invalid:\n${result.problems.map(formatProblem).join('\n')}`);
  const gateway = await Gateway.start(result.generation, { logger, accessLog: undefined });
  const first = [...result.generation.frontends.keys()][0]!;
  return {
    gateway,
    dir,
    file,
    port: (fe = first) => gateway.port(fe),
    url: (path = '/', fe = first) => `http://127.0.0.1:${gateway.port(fe)}${path}`,
    close: async () => {
      await gateway.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestOrigin {
  server: http.Server;
  port: number;
  address: string;
  /** TCP connections accepted so far. */
  connections: number;
  /** Requests seen, in order: method, url, headers. */
  requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
  close(): Promise<void>;
}

/** An HTTP origin on 127.0.0.1:0. The default handler answers `name` and echoes nothing. */
export async function startOrigin(name = 'origin', handler?: http.RequestListener): Promise<TestOrigin> {
  const origin = { connections: 0, requests: [] } as unknown as TestOrigin;
  const server = http.createServer((req, res) => {
    origin.requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (handler) return handler(req, res);
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': name });
      res.end(name);
    });
  });
  server.on('connection', () => origin.connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin.server = server;
  origin.port = (server.address() as net.AddressInfo).port;
  origin.address = `127.0.0.1:${origin.port}`;
  origin.close = () => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(() => resolve()));
  };
  return origin;
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** A GET on a fresh connection (no agent), its body as text. */
export function get(url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers, agent: false }, (res) => {
        let body = '';
        res
          .setEncoding('utf8')
          .on('data', (d: string) => (body += d))
          .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
      })
      .on('error', reject);
  });
}

/** What an origin that echoes the request's url and headers as JSON saw. */
export const seen = (r: Reply) => JSON.parse(r.body) as { url: string; headers: Record<string, string> };

/** Sends raw bytes and collects everything until the server closes (or `waitMs` of silence). */
export function rawExchange(port: number, bytes: string | Buffer, waitMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(bytes));
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.setTimeout(waitMs, () => socket.destroy());
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
  });
}

/** A port nobody listens on (bound then released). */
export async function deadPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

/** A port free on 127.0.0.1 now, for configs that need a fixed one (a master's workers share their ports). */
export const freePort = deadPort;
