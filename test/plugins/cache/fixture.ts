// A gateway with the cache plugin in front of one origin whose answers each test sets,
// and a clock the test moves (the origin's Date header follows it too).
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import { createTestGateway, type TestGateway, type TestOrigin, type TestResponse } from 'tapgate/sdk/testing';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export type Reply = TestResponse;

export interface CacheFixture {
  gw: TestGateway;
  origin: TestOrigin;
  /** What the origin answers, by path (query ignored); unknown paths get 404 no-store. */
  routes: Map<string, Handler>;
  /** Moves the gateway's and the origin's clock forward. */
  advance(ms: number): void;
  now(): number;
  /** Requests the origin saw for a path. */
  seen(path: string): TestOrigin['requests'];
  request(path: string, init?: { method?: string; headers?: Record<string, string>; body?: string }): Promise<Reply>;
  counter(name: string): number;
  /** A request to the stats listener (with `stats` in the setup): status and parsed JSON body. */
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; body: any }>;
  /** 'request' (path, headers) when a request reaches the gateway, before the cache; 'sent' (path, headers, status) once answered. */
  events: EventEmitter;
  close(): Promise<void>;
}

/** More than one cache in front of one origin: routes with their own, a stats listener, backend settings. */
export interface FixtureSetup {
  /** The frontend's routes (`name`, `match`, `plugins`); they use the origin's backend. */
  routes?: object[];
  /** false: no cache in the frontend's own plugins (only the routes' caches). */
  frontendCache?: boolean;
  /** Merged into the backend (`retries`, `timeouts`...). */
  backend?: object;
  /** Opens the stats listener on a port of its own (`stats.admin` and others may be given). */
  stats?: boolean | object;
  /** What the origin does with an upgrade request (it is counted in `seen` like the others). */
  upgrade?: (req: http.IncomingMessage, socket: Duplex) => void;
}

let fixtures = 0;

/** A plugin before the cache reporting each request's arrival and end on a global emitter (same process). */
const eventsPlugin = (global: string) => `export default {
  name: 'test-events', version: '1.0.0',
  setup(api) {
    const events = globalThis[${JSON.stringify(global)}];
    api.hooks.http.request.tapPromise({ name: 'test-events', stage: -1000 }, async (ctx) => { events.emit('request', ctx.path, ctx.headers); });
    api.hooks.http.responseSent.tap({ name: 'test-events', stage: 1000 }, (ctx) => { events.emit('sent', ctx.path, ctx.headers, ctx.status); });
  },
};`;

export async function startCache(options: object = {}, setup: FixtureSetup = {}): Promise<CacheFixture> {
  const events = new EventEmitter();
  events.setMaxListeners(0);
  const global = `cacheTestEvents${++fixtures}`;
  (globalThis as Record<string, unknown>)[global] = events;
  // The gateway's and the origin's clock: from a whole second, a microsecond further at
  // each reading (time passes, but only a few ms over a whole file) and advance(). With
  // the real clock a stored response started with an apparent age of up to a second
  // (Date has whole seconds), which made exact Age assertions fail now and then.
  const start = Math.floor(Date.now() / 1000) * 1000;
  const routes = new Map<string, Handler>();
  const handler: Handler = (req, res) => {
    res.setHeader('date', new Date(gw.clock.now()).toUTCString());
    const handler = routes.get(req.url!.split('?')[0]!);
    if (handler) return handler(req, res);
    req.resume();
    res.writeHead(404, { 'cache-control': 'no-store' }).end('not found');
  };
  const gw = await createTestGateway({
    config: {
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          plugins: [{ use: './events.ts' }, ...(setup.frontendCache === false ? [] : [{ use: 'cache', options }])],
          ...(setup.routes ? { routes: setup.routes } : {}),
        },
      },
      backends: { app: { servers: [{ name: 'o', address: 'origin:origin' }], ...setup.backend } },
      ...(setup.stats ? { stats: { bind: '127.0.0.1:0', ...(typeof setup.stats === 'object' ? setup.stats : {}) } } : {}),
    },
    origins: { origin: setup.upgrade ? { http: handler, upgrade: setup.upgrade } : handler },
    files: { 'events.ts': eventsPlugin(global) },
    clock: { start, step: 0.001 },
  });
  const origin = gw.origins.origin!;
  return {
    gw,
    origin,
    routes,
    events,
    advance: (ms) => gw.clock.advance(ms),
    now: () => gw.clock.now(),
    seen: (path) => origin.requests.filter((r) => r.url.split('?')[0] === path),
    request: (path, init = {}) => gw.request({ path, ...init }),
    counter: (name) =>
      gw
        .metrics()
        .find((m) => m.name === name)
        ?.values.reduce((n, v) => n + ('value' in v ? v.value : v.count), 0) ?? 0,
    admin: async (path, init = {}) => {
      const res = await fetch(`http://127.0.0.1:${gw.statsPort}${path}`, {
        method: init.method ?? 'GET',
        body: init.body === undefined ? undefined : typeof init.body === 'string' ? init.body : JSON.stringify(init.body),
      });
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      return { status: res.status, body };
    },
    close: async () => {
      await gw.close();
      delete (globalThis as Record<string, unknown>)[global];
    },
  };
}

/** An origin answer: status, headers and body. */
export function answer(status: number, headers: Record<string, string>, body = 'body'): Handler {
  return (req, res) => {
    req.resume();
    res.writeHead(status, headers).end(req.method === 'HEAD' ? undefined : body);
  };
}

/** An origin answer that counts and shows which version it served. */
export function versioned(headers: Record<string, string | string[]>): Handler & { version: number } {
  const h = ((req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    h.version++;
    res.writeHead(200, headers).end(`v${h.version}`);
  }) as Handler & { version: number };
  h.version = 0;
  return h;
}
