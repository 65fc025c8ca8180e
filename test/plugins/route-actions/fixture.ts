// Shared by the rewrite, redirect and respond tests: a gateway whose frontend `web`
// has routes, an origin per backend that echoes what it received, and `check` run on a
// config to read the problems it reports.
import { after } from 'node:test';
import type http from 'node:http';
import { checkTestConfig, createTestGateway, TestCa, type TestGateway, type TestOrigin, type TestProblem, type TestResponse } from 'tapgate/sdk/testing';

/** What an echo origin answers: its name, and the request as it arrived. */
export interface Echo {
  origin: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An origin answering every request with JSON describing it, plus `headers` on the response. */
export function echoing(name: string, headers: Record<string, string | string[]> = {}): http.RequestListener {
  return (req, res) => {
    req.resume();
    req.on('end', () => {
      const echo: Echo = { origin: name, url: req.url!, headers: req.headers };
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(echo));
    });
  };
}

export interface RoutedGateway {
  gw: TestGateway;
  /** Origins by backend name. */
  origins: Readonly<Record<string, TestOrigin>>;
  /** A request through the gateway (GET unless said; Host may be set): status, headers, body, and the echo when an origin answered. */
  request(path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<Answer>;
}

/**
 * Frontend `web` (default backend `fallback`) with `routes` and frontend `plugins`;
 * a backend (with an echo origin) for every name given in `backends`.
 */
export interface RoutedOptions {
  routes?: object[];
  plugins?: object[];
  backends?: string[];
  /** Headers every origin adds to its answers. */
  originHeaders?: Record<string, string | string[]>;
  /** Terminate TLS on the frontend (a test CA's certificate); requests are sent over https. */
  tls?: boolean;
}

/** A starter for one suite: what it starts is closed after the suite. Call inside `describe`. */
export function routedGateways(): (o: RoutedOptions) => Promise<RoutedGateway> {
  const start = harnessGateways();
  return async (o) => {
    const gw = await start(o);
    return {
      gw,
      origins: gw.origins,
      request: async (path, init = {}) => {
        const res = await gw.request({ path, ...init });
        return { ...res, echo: res.headers['content-type'] === 'application/json' ? echoOf(res) : undefined };
      },
    };
  };
}

/** Frontend `web` through the SDK's harness: echo origins named after their backends. Call inside `describe`; closed after the suite. */
export function harnessGateways(): (o: RoutedOptions) => Promise<TestGateway> {
  const open: TestGateway[] = [];
  after(() => Promise.all(open.map((t) => t.close())));
  return async (o) => {
    const names = ['fallback', ...(o.backends ?? [])];
    const tls = o.tls ? { certificates: [{ cert: 'cert.pem', key: 'key.pem' }] } : undefined;
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'fallback', routes: o.routes ?? [], plugins: o.plugins ?? [], tls } },
        backends: Object.fromEntries(names.map((name) => [name, { servers: [{ name: 's1', address: `origin:${name}` }] }])),
      },
      origins: Object.fromEntries(names.map((name) => [name, echoing(name, o.originHeaders)])),
      files: o.tls ? certificate() : {},
    });
    open.push(t);
    return t;
  };
}

/** What an echo origin answered. */
export const echoOf = (res: TestResponse): Echo => JSON.parse(res.body) as Echo;

export interface Answer extends TestResponse {
  echo?: Echo;
}

let issued: { cert: string; key: string } | undefined;

/** A certificate for the frontend's TLS, made once per file: `cert.pem` and `key.pem`. */
function certificate(): Record<string, string> {
  const { cert, key } = (issued ??= new TestCa('route-actions test CA').issue({ cn: 'route-actions.test', dns: ['route-actions.test'] }));
  return { 'cert.pem': cert, 'key.pem': key };
}

/** `tapgate check` on `config` (written as YAML): the problems it reports. */
export async function checkProblems(config: Record<string, unknown>): Promise<TestProblem[]> {
  return (await checkTestConfig({ config })).problems;
}

/** The problems `check` reports, as [key path, message], when the first route of frontend `web` uses plugin `use` with `options`. */
export async function optionProblems(use: string, options: unknown): Promise<[string, string][]> {
  const problems = await checkProblems({
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', routes: [{ match: { path: '/x' }, plugins: [{ use, options }] }] } },
    backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
  });
  return problems.map((p) => [p.path, `${p.message}${p.hint ? ` (${p.hint})` : ''}`]);
}
