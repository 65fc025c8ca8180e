// `tapgate explain`: which route a request would take, why (each route's conditions
// with their results, in order, up to the one taken), and the plugin chain that would
// run, hook by hook, in order, with stages. Runs the generation's real `route` taps on
// a request built from the command line; nothing is sent anywhere.
import { HttpContext } from './http/context.ts';
import { type HttpHeaders } from '../sdk/context.ts';
import type { FrontendRuntime, Generation } from './generation.ts';
import { chosenRoute, traceCondition } from './routes.ts';
import { type ConditionTrace } from '../sdk/routes.ts';
import { Stage } from '../sdk/hooks.ts';
import { runner } from './taps.ts';
import { formatAddress } from '../sdk/units.ts';

export interface ExplainRequest {
  method: string;
  /** An absolute URL (http://host:port/path?q) or a path. */
  url: string;
  headers?: Record<string, string>;
  /** Client address (default 127.0.0.1). */
  src?: string;
  /** Frontend by name; default: the http frontend bound to the URL's port, or the only one. */
  frontend?: string;
  /** TLS facts of the client connection (default for https URLs: SNI = the URL's host). */
  sni?: string;
  alpn?: string;
}

export interface Explanation {
  frontend: string;
  binds: string[];
  request: { method: string; path: string; host: string; client: string; tls?: { sni?: string; alpn?: string } };
  /** Each route tried, in order, up to the one taken. */
  routes: { name: string; index: number; held: boolean; condition?: ConditionTrace }[];
  route: string;
  /** How the route was decided: by the route taps, or the fallback. */
  decidedBy: string;
  backend?: { name: string; balance: string; servers: string[] };
  /** Hook by hook, the taps that would run, in order; `after`: the plugins before it there that it asked to follow (its own `after` or its plugin's). */
  chain: { hook: string; taps: TapInfo[] }[];
}

/** Hooks in the order a request meets them. */
const requestHooks = ['request', 'pickServer', 'upstreamRequest', 'upstreamResponse', 'responseSent', 'requestError'] as const;

export interface TapInfo {
  plugin: string;
  stage: number;
  stageName?: string;
  after?: string[];
}

export class ExplainError extends Error {}

export function explain(gen: Generation, r: ExplainRequest): Explanation {
  const absolute = /^[a-z][a-z0-9+.-]*:\/\//i.test(r.url);
  const url = new URL(absolute ? r.url : `http://explain.invalid${r.url.startsWith('/') ? '' : '/'}${r.url}`);
  const port = absolute ? Number(url.port || (url.protocol === 'https:' ? 443 : 80)) : undefined;
  const fe = pickFrontend(gen, r.frontend, port);
  const headers: HttpHeaders = {};
  for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = v;
  if (absolute) headers.host ??= url.host;
  const https = url.protocol === 'https:';
  const tls = r.sni || r.alpn || https ? { sni: r.sni ?? (https ? url.hostname : undefined), alpn: r.alpn ?? (https ? 'http/1.1' : undefined) } : undefined;
  const local = fe.binds[0] ?? { host: '127.0.0.1', port: port ?? 0 };
  const ctx = new HttpContext(
    fe.name,
    gen.id,
    r.method.toUpperCase(),
    url.pathname + url.search,
    '1.1',
    headers,
    { address: r.src ?? '127.0.0.1', port: 50000 },
    { address: local.host, port: port ?? local.port },
    tls,
    0,
  );

  const taps = fe.http.route.taps;
  const chosen = taps.length ? runner(fe.http.route)(ctx) : undefined;
  const route = chosenRoute(fe, chosen);
  const tried = route.index >= 0 ? fe.routes.slice(0, route.index + 1) : fe.routes;
  const backendName = typeof chosen === 'string' ? chosen : route.backend;
  const backend = backendName === undefined ? undefined : gen.backends.get(backendName);
  return {
    frontend: fe.name,
    binds: fe.binds.map(formatAddress),
    request: { method: ctx.method, path: ctx.url, host: ctx.host, client: ctx.client.address, ...(tls ? { tls } : {}) },
    routes: tried.map((x) => ({
      name: x.name,
      index: x.index,
      held: !x.condition || x.condition.test(ctx),
      ...(x.condition ? { condition: traceCondition(x.condition, ctx) } : {}),
    })),
    route: route.name,
    decidedBy:
      typeof chosen === 'string'
        ? `a route tap chose backend "${chosen}"`
        : route.index >= 0
          ? `route taps: ${taps.map((t) => t.name).join(', ')}`
          : 'no route matched: the frontend default',
    ...(backend
      ? {
          backend: {
            name: backend.name,
            balance: backend.balance,
            servers: backend.servers.map((s) => `${s.name} ${formatAddress(s.address)}${s.backup ? ' backup' : ''}${s.state !== 'ready' ? ` ${s.state}` : ''}`),
          },
        }
      : {}),
    chain: [
      { hook: 'received', taps: tapsOf(fe.http.received.taps) },
      { hook: 'route', taps: tapsOf(taps) },
      ...requestHooks.map((hook) => ({ hook, taps: tapsOf(route.http[hook].taps) })),
    ],
  };
}

function pickFrontend(gen: Generation, name: string | undefined, port: number | undefined): FrontendRuntime {
  const http = [...gen.frontends.values()].filter((f) => f.mode === 'http');
  if (name) {
    const fe = gen.frontends.get(name);
    if (!fe) throw new ExplainError(`no frontend "${name}" (frontends: ${[...gen.frontends.keys()].join(', ')})`);
    if (fe.mode !== 'http') throw new ExplainError(`frontend "${name}" is mode tcp; explain follows HTTP requests`);
    return fe;
  }
  const onPort = port === undefined ? [] : http.filter((f) => f.binds.some((b) => b.port === port));
  if (onPort.length === 1) return onPort[0]!;
  if (http.length === 1) return http[0]!;
  throw new ExplainError(
    `${onPort.length > 1 ? `several http frontends listen on port ${port}` : 'which frontend?'}: say --frontend NAME (http frontends: ${http.map((f) => f.name).join(', ')})`,
  );
}

const stageNames = new Map<number, string>(Object.entries(Stage).map(([k, v]) => [v, k]));

function tapsOf(taps: readonly { name: string; stage?: number; after?: readonly string[] }[]): TapInfo[] {
  return taps.map((t, i) => {
    const stage = t.stage ?? 0;
    const stageName = stageNames.get(stage);
    const after = t.after?.filter((a) => a !== t.name && taps.slice(0, i).some((o) => o.name === a));
    return { plugin: t.name, stage, ...(stageName ? { stageName } : {}), ...(after?.length ? { after } : {}) };
  });
}

/** The explanation as a person reads it. */
export function renderExplanation(e: Explanation): string {
  const out: string[] = [];
  const tls = e.request.tls ? `  tls sni=${e.request.tls.sni ?? '-'} alpn=${e.request.tls.alpn ?? '-'}` : '';
  out.push(`frontend ${e.frontend}${e.binds.length ? ` (${e.binds.join(', ')})` : ''}`);
  out.push(`request  ${e.request.method} ${e.request.path}  host ${e.request.host || '-'}  from ${e.request.client}${tls}`);
  out.push('');
  out.push(e.routes.length ? 'routes, in order:' : 'no routes: the frontend default serves every request');
  for (const r of e.routes) {
    out.push(`  ${mark(r.held)} ${r.name}${r.condition ? '' : '  (no match: always)'}`);
    if (r.condition) renderTrace(r.condition, 6, out);
  }
  out.push('');
  out.push(`route    ${e.route}  (${e.decidedBy})`);
  out.push(
    e.backend ? `backend  ${e.backend.name}  balance ${e.backend.balance}: ${e.backend.servers.join(', ')}` : 'backend  none: 503 unless a plugin answers',
  );
  out.push('');
  out.push('plugin chain, in order:');
  const width = Math.max(...e.chain.map((c) => c.hook.length));
  for (const c of e.chain) {
    const taps = c.taps
      .map((t) => `${t.plugin} (${t.stageName ? `${t.stageName} ${t.stage}` : `stage ${t.stage}`}${t.after ? `, after ${t.after.join(', ')}` : ''})`)
      .join(' → ');
    out.push(`  ${c.hook.padEnd(width)}  ${taps || '-'}`);
  }
  return out.join('\n') + '\n';
}

function renderTrace(t: ConditionTrace, indent: number, out: string[]): void {
  const pad = ' '.repeat(indent);
  if (!t.children) return void out.push(`${pad}${mark(t.held)} ${t.kind} ${flow(t.written)}`);
  // The implicit `all` of a mapping with several keys reads best as its parts.
  if (t.kind === 'all' && indent === 6) return t.children.forEach((c) => renderTrace(c, indent, out));
  out.push(`${pad}${mark(t.held)} ${t.kind}`);
  for (const c of t.children) renderTrace(c, indent + 2, out);
}

const mark = (held: boolean) => (held ? '✓' : '✗');

/** A config value on one line: `a`, `[a, b]`, `{k: v}`. */
function flow(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(flow).join(', ')}]`;
  if (v && typeof v === 'object')
    return `{${Object.entries(v)
      .map(([k, x]) => `${k}: ${flow(x)}`)
      .join(', ')}}`;
  return String(v);
}
