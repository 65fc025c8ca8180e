// `createTestGateway`: a whole gateway in the test's own process, serving a config
// against fake origins, all on port 0. A test sends real requests and TCP streams and
// reads what a client, the stats page and the access log see; the plugins' clock is a
// fake one the test moves.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { dirname, join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../core/config/check.ts';
import { formatProblem } from '../core/config/problems.ts';
import { Gateway } from '../core/gateway.ts';
import { createLogger, type AccessLog } from '../core/log.ts';
import type { MetricSample } from './metrics.ts';
import { builtins } from '../plugins/index.ts';
import type { PluginDefinition } from './index.ts';

/** An origin's behaviour: a node:http handler, or `'echo'` (JSON: origin, method, url, headers, body). */
export type OriginHandler = http.RequestListener | 'echo';

export interface TestGatewayOptions {
  /** The configuration as YAML would write it. A string `origin:<name>` anywhere in it becomes that origin's address. */
  config: Record<string, unknown>;
  /** Plugins by what `use:` says: a definition (kept in memory) or a module's source (written beside the config). */
  plugins?: Record<string, PluginDefinition<any> | string>;
  /** Fake origins to start on 127.0.0.1:0, by name. */
  origins?: Record<string, OriginHandler>;
  /** Other files beside the config (certificates, key lists), by path. */
  files?: Record<string, string>;
}

export interface TestOrigin {
  readonly name: string;
  /** `127.0.0.1:<port>`, as a server's `address`. */
  readonly address: string;
  readonly port: number;
  /** Requests it has seen, in order. */
  readonly requests: { method: string; url: string; headers: http.IncomingHttpHeaders }[];
}

export interface TestRequest {
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Default: the config's first frontend. TLS frontends are spoken to over https (any certificate). */
  frontend?: string;
  /** `true`: a connection of its own, closed after; default: a kept-alive one, reused. */
  fresh?: boolean;
}

export interface TestResponse {
  status: number;
  headers: Headers;
  body: string;
}

export interface TestClock {
  now(): number;
  advance(ms: number): void;
}

export interface TestGateway {
  readonly gateway: Gateway;
  /** The folder holding the config and files. */
  readonly dir: string;
  readonly origins: Readonly<Record<string, TestOrigin>>;
  /** Access log entries, as objects, in the order written. */
  readonly logs: Record<string, unknown>[];
  /** The plugins' clock (`api.now()`): starts at the real time and moves only when told. */
  readonly clock: TestClock;
  port(frontend?: string): number;
  request(request: string | TestRequest): Promise<TestResponse>;
  /** A socket connected to a frontend (default: the first). */
  tcp(frontend?: string): Promise<net.Socket>;
  /** `/stats.json` from the stats listener when the config has `stats:`; else this process's metrics. */
  stats(): Promise<unknown>;
  close(): Promise<void>;
}

export async function createTestGateway(options: TestGatewayOptions): Promise<TestGateway> {
  const origins: Record<string, TestOrigin & { close(): Promise<void> }> = {};
  // Inside the project, so plugin sources resolve its packages.
  const base = join(process.cwd(), '.tapgate', 'test');
  mkdirSync(base, { recursive: true });
  const dir = mkdtempSync(join(base, 't-'));
  const sockets = new Set<net.Socket>();
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true, rejectUnauthorized: false }) };
  let gateway: Gateway | undefined;
  const close = async () => {
    agents.http.destroy();
    agents.https.destroy();
    for (const s of sockets) s.destroy();
    await gateway?.kill();
    await Promise.all(Object.values(origins).map((o) => o.close()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (const [name, handler] of Object.entries(options.origins ?? {})) origins[name] = await startOrigin(name, handler);
    const definitions = new Map(builtins);
    const files: Record<string, string> = { ...options.files };
    for (const [use, plugin] of Object.entries(options.plugins ?? {})) {
      if (typeof plugin === 'string') files[use] = plugin;
      else definitions.set(use, plugin);
    }
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    }
    const config = withOrigins({ log: { level: 'silent', access: false }, ...options.config }, origins);
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(file, stringify(config));
    let time = Date.now();
    const clock: TestClock = { now: () => time, advance: (ms) => void (time += ms) };
    const logger = createLogger(process.env.TAPGATE_TEST_LOG ?? 'silent');
    const result = await checkConfig(file, { builtins: definitions, logger, keep: true, now: clock.now });
    if (!result.ok || !result.generation) throw new Error(`config invalid:\n${result.problems.map(formatProblem).join('\n')}`);
    const logs: Record<string, unknown>[] = [];
    const accessLog: AccessLog = { write: (entry) => void logs.push(entry as Record<string, unknown>), flush: () => {}, close: async () => {} };
    const gw = (gateway = await Gateway.start(result.generation, { logger, accessLog }));
    const frontends = result.generation.config.frontends;
    const first = Object.keys(frontends)[0]!;
    const port = (frontend = first) => gw.port(frontend);

    const request = (r: string | TestRequest): Promise<TestResponse> => {
      const { path, method = 'GET', headers, body, frontend = first, fresh = false } = typeof r === 'string' ? { path: r } : r;
      const tls = frontends[frontend]?.tls !== undefined;
      const agent = fresh ? false : tls ? agents.https : agents.http;
      return new Promise((resolve, reject) => {
        // node:http rather than fetch, which would not send a Host header of the test's choosing.
        const req = (tls ? https : http).request({ host: '127.0.0.1', port: port(frontend), path, method, headers, agent, rejectUnauthorized: false }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const h = new Headers();
            for (let i = 0; i < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
            resolve({ status: res.statusCode!, headers: h, body: Buffer.concat(chunks).toString() });
          });
        });
        req.on('error', reject);
        req.end(body);
      });
    };

    const tcp = (frontend = first) =>
      new Promise<net.Socket>((resolve, reject) => {
        const socket = net.connect(port(frontend), '127.0.0.1', () => resolve(socket));
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        socket.once('error', reject);
      });

    const stats = async (): Promise<unknown> => {
      const section = result.generation!.config.stats;
      if (!section) return gw.metrics() satisfies MetricSample[];
      const headers: Record<string, string> = {};
      if (section.token) headers.authorization = `Bearer ${section.token}`;
      if (section.basic_auth) headers.authorization = `Basic ${Buffer.from(`${section.basic_auth.user}:${section.basic_auth.password}`).toString('base64')}`;
      const res = await fetch(`http://127.0.0.1:${gw.statsPort}/stats.json`, { headers });
      if (!res.ok) throw new Error(`GET /stats.json: ${res.status} ${await res.text()}`);
      return res.json();
    };

    return { gateway: gw, dir, origins, logs, clock, port, request, tcp, stats, close };
  } catch (err) {
    await close();
    throw err;
  }
}

/** Replaces every string `origin:<name>` with that origin's address. */
function withOrigins(value: unknown, origins: Record<string, TestOrigin>): unknown {
  if (typeof value === 'string' && value.startsWith('origin:')) {
    const origin = origins[value.slice('origin:'.length)];
    if (!origin) throw new Error(`${value}: no such origin (origins: ${Object.keys(origins).join(', ') || 'none'})`);
    return origin.address;
  }
  if (Array.isArray(value)) return value.map((v) => withOrigins(v, origins));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withOrigins(v, origins)]));
  return value;
}

async function startOrigin(name: string, handler: OriginHandler): Promise<TestOrigin & { close(): Promise<void> }> {
  const requests: TestOrigin['requests'] = [];
  const server = http.createServer((req, res) => {
    requests.push({ method: req.method!, url: req.url!, headers: req.headers });
    if (handler !== 'echo') return handler(req, res);
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ origin: name, method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString() }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    name,
    port,
    address: `127.0.0.1:${port}`,
    requests,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
