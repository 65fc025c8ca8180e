// HAProxy's stats page, and more: counters per frontend, route, backend and server
// (counting.ts), latency histograms, what each plugin costs, and the outputs on the
// stats listener (`stats:` in the config): the page, /stats.json, /stats.txt, /stats.csv and
// Prometheus text on /metrics. Totals come from every worker and survive reloads: the
// kernel merges the metrics (`req.metrics()`); state comes from this worker's views.
// `tapgate stats` (command.ts) reads /stats.txt or /stats.json from a terminal.
import { definePlugin, renderPrometheus, Stage, type AdminRequest, type HttpAnswer, type PluginApi } from '../../sdk/index.ts';
import { Counting } from './counting.ts';
import { renderCsv } from './csv.ts';
import { renderPage } from './page.ts';
import { renderTerminal } from './terminal.ts';
import { buildReport, type StatsReport } from './report.ts';
import { statsCommand } from './command.ts';

export default definePlugin({
  name: 'stats',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Counters, latency histograms and plugin costs; a stats page, /stats.json, /stats.csv and /metrics on the stats listener.',
  autoload: true,
  commands: { stats: statsCommand },
  setup(api) {
    const counting = new Counting(api.metrics);
    const tap = { name: api.name, stage: Stage.OBSERVE };
    // Connections and the start of a request are counted before any other tap may refuse them.
    const first = { name: api.name, stage: Stage.FIRST };

    api.hooks.app.boot.tap(api.name, () => counting.bindAll(api.generation.frontends, api.backends().values()));
    api.hooks.app.collect.tap(api.name, () => counting.collect(api.backends().values(), api.now()));
    api.hooks.http.accept.tap(first, (info) => counting.connection(info.frontend));
    api.hooks.http.route.tap(first, (ctx) => counting.httpStarted(ctx));
    api.hooks.http.responseSent.tap(tap, (ctx) => counting.httpEnded(ctx));
    api.hooks.tcp.accept.tap(first, (ctx) => counting.connection(ctx.frontend));
    api.hooks.tcp.connected.tap(tap, (ctx) => counting.tcpConnected(ctx));
    api.hooks.tcp.closed.tap(tap, (ctx) => counting.tcpEnded(ctx));
    api.hooks.app.upstreamConnected.tap(api.name, (server, ms) => {
      const backend = api.backends().get(server.backend);
      if (backend) counting.httpConnected(backend, server, ms);
    });
    api.hooks.app.admin.tapPromise(api.name, (req) => answer(api, req));
  },
});

/** The stats listener's paths this plugin serves; anything else is left to other taps and the kernel's 404. */
async function answer(api: PluginApi, req: AdminRequest): Promise<HttpAnswer | undefined> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return undefined;
  switch (req.path) {
    case '/':
    case '/stats': {
      const { html, csp } = renderPage(await report(api, req));
      return {
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8', 'content-security-policy': csp, 'x-content-type-options': 'nosniff' },
        body: html,
      };
    }
    case '/stats.json':
      return { status: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify(await report(api, req), null, 2) + '\n' };
    case '/stats.txt':
      return {
        status: 200,
        headers: { 'content-type': 'text/plain; charset=utf-8' },
        body: renderTerminal(await report(api, req), req.query.get('color') === '1'),
      };
    case '/stats.csv':
      return { status: 200, headers: { 'content-type': 'text/csv; charset=utf-8; header=present' }, body: renderCsv(await report(api, req)) };
    case '/metrics': {
      const body = renderPrometheus(await req.metrics(), undefined, (family, reason) =>
        api.log.error({ family, reason }, 'a metric family cannot be written in Prometheus text: left out of /metrics'),
      );
      return { status: 200, headers: { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }, body };
    }
    default:
      return undefined;
  }
}

async function report(api: PluginApi, req: AdminRequest): Promise<StatsReport> {
  const [samples, status] = await Promise.all([req.metrics(), req.status()]);
  return buildReport({ samples, status, frontends: api.frontends(), routes: (fe) => api.routes(fe), backends: api.backends(), now: api.now() });
}
