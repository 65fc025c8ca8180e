// The stats listener (`stats:` in the config): who may ask (a token, basic auth, or
// loopback clients only), the kernel's runtime API under `/api/`, and everything else
// offered to the `app.admin` taps (the stats page, metrics, purges). Under a master,
// every worker listens on the shared port; answers that need every worker (metrics,
// server changes, reload) go through the master.
import http from 'node:http';
import { pipeline, type Readable } from 'node:stream';
import { timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import type { AdminEnv } from './admin.ts';
import type { AdminRequest, ServerChange } from '../sdk/admin.ts';
import type { GatewayConfig } from '../sdk/config.ts';
import type { Generation } from './generation.ts';
import type { HttpAnswer, HttpHeaders } from '../sdk/context.ts';
import { isLoopback } from './config/check.ts';
import { parseAddress } from '../sdk/units.ts';
import { PluginError, runner } from './taps.ts';

export type StatsConfig = NonNullable<GatewayConfig['stats']>;

const maxBody = 64 * 1024;

export class AdminListener {
  readonly server: http.Server;
  #draining = false;

  constructor(
    public config: StatsConfig,
    public gen: Generation,
    private readonly env: AdminEnv,
    private readonly logger: Logger,
  ) {
    this.server = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, keepAliveTimeout: 5_000 }, (req, res) => {
      void this.#handle(req)
        .then((a) => answer(res, a, this.#draining))
        .catch((err) => {
          this.logger.error({ err }, 'stats listener: request failed');
          if (!res.headersSent) answer(res, json(500, { error: 'internal error' }), this.#draining);
          else res.destroy();
        });
    });
  }

  listen(): Promise<void> {
    const a = parseAddress(this.config.bind)!;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host: a.host, port: a.port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  /** Ends every connection now. */
  close(): void {
    this.server.close();
    this.server.closeAllConnections();
  }

  /**
   * Stops accepting and closes idle connections; a request in flight gets its answer
   * first (a reload asked here waits for the reload, which drains this very worker),
   * then its connection closes. Resolves once no connection is left.
   */
  drain(): Promise<void> {
    this.#draining = true;
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  async #handle(req: http.IncomingMessage): Promise<HttpAnswer> {
    const refusal = this.#refusal(req);
    if (refusal) return refusal;
    const body = await readBody(req);
    if (body === undefined) return json(413, { error: `a body of at most ${maxBody} bytes` });
    const url = new URL(req.url ?? '/', 'http://stats.invalid');
    if (url.pathname === '/api' || url.pathname.startsWith('/api/')) return this.#api(req.method ?? 'GET', url.pathname, body);
    const request: AdminRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers as HttpHeaders,
      body,
      writable: this.config.admin,
      metrics: () => this.env.metrics(),
      status: () => this.env.status(),
    };
    const hook = this.gen.app.admin;
    let result: HttpAnswer | void = undefined;
    try {
      if (hook.taps.length) result = await runner(hook)(request);
    } catch (err) {
      const e = err instanceof PluginError ? err : undefined;
      this.gen.report({ plugin: e?.plugin, hook: 'app.admin', error: e ? e.cause : err });
      return json(500, { error: e ? `plugin ${e.plugin} failed` : 'internal error' });
    }
    return result ?? json(404, { error: `nothing at ${url.pathname}`, try: ['/api/status', '/api/servers'] });
  }

  /** Who may ask: with a token or basic auth configured, whoever presents it; without, loopback clients only. */
  #refusal(req: http.IncomingMessage): HttpAnswer | undefined {
    const { token, basic_auth } = this.config;
    if (token || basic_auth) {
      const given = req.headers.authorization ?? '';
      if (token && same(given, `Bearer ${token}`)) return undefined;
      if (basic_auth && same(given, `Basic ${Buffer.from(`${basic_auth.user}:${basic_auth.password}`).toString('base64')}`)) return undefined;
      return {
        ...json(401, { error: token ? 'expected Authorization: Bearer <stats.token>' : 'expected basic credentials' }),
        ...(basic_auth ? { headers: { 'content-type': 'application/json', 'www-authenticate': 'Basic realm="tapgate stats"' } } : {}),
      };
    }
    return isLoopback(req.socket.remoteAddress ?? '')
      ? undefined
      : json(403, { error: 'the stats listener answers loopback clients only; set stats.token or stats.basic_auth' });
  }

  /** The kernel's runtime API: HAProxy's runtime API as JSON over HTTP. */
  async #api(method: string, path: string, body: Buffer): Promise<HttpAnswer> {
    const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
    const write = method === 'POST' || method === 'PUT';
    if (write && !this.config.admin) return json(403, { error: 'the runtime API is read-only here (stats.admin: false)' });
    if (parts[1] === 'status' && parts.length === 2 && method === 'GET') return json(200, await this.env.status());
    if (parts[1] === 'servers' && parts.length === 2 && method === 'GET') return json(200, serverList(this.gen));
    if (parts[1] === 'servers' && parts.length === 4 && write) {
      const change = parseChange(parts[2]!, parts[3]!, body);
      if ('error' in change) return json(400, change);
      const result = await this.env.setServer(change);
      if (!result.ok) return json(result.error.startsWith('no ') ? 404 : 409, { error: result.error });
      return json(200, serverList(this.gen).find((s) => s.backend === change.backend && s.server === change.server) ?? { ok: true });
    }
    if (parts[1] === 'reload' && parts.length === 2 && method === 'POST') {
      const r = await this.env.reload();
      return json(r.ok ? 200 : 409, r);
    }
    return json(404, {
      error: `no ${method} ${path}`,
      api: ['GET /api/status', 'GET /api/servers', 'POST /api/servers/<backend>/<server> {"state": "ready|drain|maint", "weight": 0-256}', 'POST /api/reload'],
    });
  }
}

function parseChange(backend: string, server: string, body: Buffer): ServerChange | { error: string } {
  let data: unknown;
  try {
    data = body.length ? JSON.parse(body.toString('utf8')) : {};
  } catch {
    return { error: 'expected a JSON body such as {"state": "drain"} or {"weight": 10}' };
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { error: 'expected a JSON object' };
  const { state, weight, ...rest } = data as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) return { error: `unknown key "${unknown[0]}": expected state and/or weight` };
  if (state !== undefined && state !== 'ready' && state !== 'drain' && state !== 'maint') return { error: 'expected state "ready", "drain" or "maint"' };
  if (weight !== undefined && !(Number.isInteger(weight) && (weight as number) >= 0 && (weight as number) <= 256))
    return { error: 'expected weight an integer from 0 to 256' };
  if (state === undefined && weight === undefined) return { error: 'expected state and/or weight' };
  return { backend, server, ...(state !== undefined ? { state } : {}), ...(weight !== undefined ? { weight: weight as number } : {}) };
}

/** Applies a run-time server change to one generation; the error names what is missing. */
export function applyServerChange(gen: Generation, change: ServerChange): { ok: true } | { ok: false; error: string } {
  const backend = gen.backends.get(change.backend);
  if (!backend) return { ok: false, error: `no backend "${change.backend}"` };
  const server = backend.servers.find((s) => s.name === change.server);
  if (!server) return { ok: false, error: `no server "${change.server}" in backend "${change.backend}"` };
  if (change.state !== undefined) backend.setServerState(server, { state: change.state });
  if (change.weight !== undefined) backend.setServerWeight(server, change.weight);
  return { ok: true };
}

/** Every server of a generation as the API shows it. */
export function serverList(gen: Generation) {
  return [...gen.backends.values()].flatMap((b) =>
    b.servers.map((s) => ({
      backend: b.name,
      server: s.name,
      address: `${s.address.host}:${s.address.port}`,
      state: s.state,
      up: s.up,
      weight: s.configWeight,
      effective_weight: s.weight,
      active: s.active,
      backup: s.backup,
      health: s.health,
    })),
  );
}

function json(status: number, body: unknown): HttpAnswer {
  return { status, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body, null, 2) + '\n' };
}

/** Writes `a`; with `close`, the connection closes after it. */
function answer(res: http.ServerResponse, a: HttpAnswer, close: boolean): void {
  const headers = { 'cache-control': 'no-store', ...a.headers, ...(close ? { connection: 'close' } : {}) } as Record<string, string | string[]>;
  const body = a.body;
  if (typeof body === 'string' || body instanceof Uint8Array) headers['content-length'] = String(Buffer.byteLength(body));
  res.writeHead(a.status, headers);
  // A plugin's stream: one that fails ends this answer, not the process.
  if (body && typeof body === 'object' && 'pipe' in body) pipeline(body as Readable, res, () => undefined);
  else res.end(body ?? undefined);
}

function readBody(req: http.IncomingMessage): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      if ((size += c.length) > maxBody) {
        req.destroy();
        return resolve(undefined);
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

/** Compares secrets without leaking where they differ through timing. */
function same(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}
