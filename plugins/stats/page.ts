// The stats page: one self-contained HTML document (inline CSS and script, nothing
// fetched but /stats.json). The server renders the tables with `renderTables`, so the
// page reads without JavaScript; in a browser the same function, sent as its source,
// renders them again from /stats.json every 2 seconds.
import { randomBytes } from 'node:crypto';
import type { StatsReport } from './report.ts';

/**
 * The tables for a report, as HTML; every text escaped. Runs on the server and, through
 * its source text, in the browser: it must use nothing from outside its own body.
 */
export function renderTables(report: StatsReport): string {
  const esc = (v: unknown): string =>
    String(v ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
  const num = (n: number): string => (n >= 10_000 ? n.toLocaleString('en-US') : String(n));
  const bytes = (n: number): string => {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) {
      n /= 1024;
      i++;
    }
    return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
  };
  const ms = (v: number | null): string => (v === null ? '-' : v < 10 ? v.toFixed(2) : v < 1000 ? v.toFixed(0) : `${(v / 1000).toFixed(2)} s`);
  const us = (v: number | null): string => (v === null ? '-' : v < 1000 ? `${v.toFixed(1)} µs` : `${(v / 1000).toFixed(2)} ms`);
  const age = (s: number): string => {
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m${s % 60}s`;
    if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor((s % 3600) / 60)}m`;
    return `${Math.floor(s / 86400)}d${Math.floor((s % 86400) / 3600)}h`;
  };
  const td = (v: unknown, cls = '', title = ''): string => `<td${cls ? ` class="${cls}"` : ''}${title ? ` title="${esc(title)}"` : ''}>${esc(v)}</td>`;
  const classes = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
  type Counts = Record<(typeof classes)[number], number>;
  const responseCells = (r: Counts, pct: Counts, http: boolean): string =>
    classes
      .map((c) =>
        http
          ? `<td class="n${c === '5xx' && r[c] > 0 ? ' bad' : ''}" title="${esc(`${pct[c]}% of responses`)}">${esc(num(r[c]))}<small>${esc(pct[c])}%</small></td>`
          : '<td class="n">-</td>',
      )
      .join('');
  const responseHead = classes.map((c) => `<th>${c}</th>`).join('');

  const gw = report.gateway;
  const workers = gw.workers.map((w) => `${w.pid} (gen ${w.generation}, ${w.state})`).join(', ');
  const died = gw.worker_deaths;
  const deaths = died.last
    ? ` · <span class="deaths" title="${esc(`last: worker ${died.last.pid} (gen ${died.last.generation}, ${died.last.state}), ${died.last.reason}, at ${died.last.at}`)}">${esc(died.total)} worker death${died.total === 1 ? '' : 's'}</span>`
    : '';
  let html = `<header><h1>tapgate stats</h1><p class="meta">generation <b>${esc(gw.generation)}</b> · ${esc(gw.workers.length)} worker${gw.workers.length === 1 ? '' : 's'} <span class="muted" title="${esc(workers)}">(pid ${esc(gw.pid)})</span>${deaths} · up ${esc(age(gw.uptime_s))} · updated <time datetime="${esc(report.generated_at)}">${esc(report.generated_at.slice(11, 19))} UTC</time> <span class="live" title="refreshes every 2 s">●</span></p>`;
  html += `<p class="legend">${['UP', 'DOWN', 'DRAIN', 'MAINT', 'NOLB'].map((s) => `<span class="st" data-status="${s}">${s}</span>`).join(' ')}</p></header>`;

  for (const fe of report.frontends) {
    const http = fe.mode === 'http';
    html += `<section class="proxy" data-frontend="${esc(fe.name)}"><h2>Frontend <b>${esc(fe.name)}</b> <small>${esc(fe.mode)}${fe.binds.length ? ` · ${esc(fe.binds.join(', '))}` : ''}${fe.default_backend ? ` → ${esc(fe.default_backend)}` : ''}</small></h2>`;
    html += `<div class="scroll" data-key="fe:${esc(fe.name)}"><table><thead><tr><th rowspan="2" class="name">Name</th><th colspan="3">Sessions</th><th rowspan="2">Conns</th><th colspan="2">Bytes</th><th rowspan="2">Denied</th><th rowspan="2">Errors</th><th colspan="6">Responses</th><th colspan="2">Time (ms)</th></tr>`;
    html += `<tr><th>Cur</th><th>Max</th><th>Total</th><th>In</th><th>Out</th>${responseHead}<th>p50</th><th>p99</th></tr></thead><tbody>`;
    html += `<tr class="total">${td('Frontend', 'name')}${td(fe.sessions.current, 'n')}${td(fe.sessions.max, 'n')}${td(num(fe.sessions.total), 'n')}${td(num(fe.connections), 'n')}${td(bytes(fe.bytes.in), 'n')}${td(bytes(fe.bytes.out), 'n')}${td(fe.denied, 'n')}${td(fe.errors, fe.errors ? 'n bad' : 'n')}${responseCells(fe.responses, fe.response_pct, http)}${td(ms(fe.latency.total.p50_ms), 'n')}${td(ms(fe.latency.total.p99_ms), 'n')}</tr>`;
    for (const r of fe.routes) {
      const to = r.handoff ? `frontend ${r.handoff}` : (r.backend ?? 'none');
      html += `<tr class="route">${td(`↳ ${r.name}`, 'name', `route ${r.name} → ${to}`)}${td('', 'n')}${td('', 'n')}${td(num(r.sessions), 'n')}<td colspan="5" class="muted">→ ${esc(to)}</td>${responseCells(r.responses, r.response_pct, http)}<td></td><td></td></tr>`;
    }
    html += `</tbody></table></div>`;
    const versions = Object.entries(fe.http_versions);
    if (versions.length)
      html += `<p class="meta">HTTP versions: ${versions.map(([v, n]) => `<span data-version="${esc(v)}">${esc(v === '2.0' ? 'HTTP/2' : `HTTP/${v}`)} ${esc(num(n))}</span>`).join(' · ')}</p>`;
    html += `</section>`;
  }

  for (const be of report.backends) {
    const http = be.mode === 'http';
    html += `<section class="proxy" data-backend="${esc(be.name)}"><h2>Backend <b>${esc(be.name)}</b> <small>${esc(be.mode)} · ${esc(be.balance)} · ${esc(be.servers_up)}/${esc(be.servers_total)} up</small></h2>`;
    html += `<div class="scroll" data-key="be:${esc(be.name)}"><table><thead><tr><th rowspan="2" class="name">Server</th><th rowspan="2">Status</th><th rowspan="2">Last check</th><th rowspan="2">Wght</th><th colspan="2">Queue</th><th colspan="3">Sessions</th><th colspan="2">Bytes</th><th colspan="2">Errors</th><th rowspan="2">Retr</th><th colspan="6">Responses</th><th colspan="2">${http ? 'TTFB' : 'Connect'} (ms)</th><th rowspan="2">Down</th></tr>`;
    html += `<tr><th>Cur</th><th>Max</th><th>Cur</th><th>Max</th><th>Total</th><th>In</th><th>Out</th><th>Conn</th><th>Resp</th>${responseHead}<th>p50</th><th>p99</th></tr></thead><tbody>`;
    for (const s of be.servers) {
      const check = s.check;
      const checkText = check
        ? check.result === 'pending'
          ? 'pending'
          : `${check.result === 'passed' ? 'OK' : (check.error ?? 'failed')} in ${check.duration_ms ?? '-'} ms`
        : 'no check';
      const lat = http ? s.latency.ttfb : s.latency.connect;
      html += `<tr class="server" data-server="${esc(`${be.name}/${s.name}`)}" data-status="${esc(s.status)}">`;
      html += `${td(s.name, 'name', `${s.address}${s.backup ? ' (backup)' : ''}${s.maxconn ? ` maxconn ${s.maxconn}` : ''}`)}`;
      html += `<td class="st" data-status="${esc(s.status)}">${esc(s.status)} <small>${esc(age(s.since_s))}</small></td>`;
      html += td(
        checkText,
        check && check.result === 'failed' ? 'bad' : '',
        check?.at ? `${check.checks} checks, ${check.failed} failed; last at ${check.at}` : '',
      );
      html += `${td(s.weight, 'n')}<td class="n">-</td><td class="n">-</td>${td(s.sessions.current, 'n')}${td(s.sessions.max, 'n')}${td(num(s.sessions.total), 'n')}${td(bytes(s.bytes.in), 'n')}${td(bytes(s.bytes.out), 'n')}`;
      html += `${td(s.errors.connection, s.errors.connection ? 'n bad' : 'n')}${td(s.errors.response, s.errors.response ? 'n bad' : 'n')}<td class="n">-</td>`;
      html += `${responseCells(s.responses, s.response_pct, http)}${td(ms(lat.p50_ms), 'n')}${td(ms(lat.p99_ms), 'n')}${td(s.downtime_s ? age(s.downtime_s) : '-', 'n')}</tr>`;
    }
    const lat = http ? be.latency.ttfb : be.latency.connect;
    html += `<tr class="total" data-status="${esc(be.status)}">${td('Backend', 'name')}<td class="st" data-status="${esc(be.status)}">${esc(be.status)}</td><td></td>${td(be.weight, 'n')}${td(be.queue.current, 'n')}${td(be.queue.max, 'n')}`;
    html += `${td(be.sessions.current, 'n')}${td(be.sessions.max, 'n')}${td(num(be.sessions.total), 'n')}${td(bytes(be.bytes.in), 'n')}${td(bytes(be.bytes.out), 'n')}`;
    html += `${td(be.errors.connection, be.errors.connection ? 'n bad' : 'n')}${td(be.errors.response, be.errors.response ? 'n bad' : 'n')}${td(be.retries, 'n')}`;
    html += `${responseCells(be.responses, be.response_pct, http)}${td(ms(lat.p50_ms), 'n')}${td(ms(lat.p99_ms), 'n')}<td></td></tr></tbody></table></div></section>`;
  }

  html += `<section class="proxy"><h2>Plugins <small>time in every tap, all workers</small></h2><div class="scroll" data-key="plugins"><table><thead><tr><th class="name">Plugin</th><th>Calls</th><th>Errors</th><th>Slow</th><th>Total</th><th>Mean</th><th>p50</th><th>p99</th><th class="left">Hooks</th></tr></thead><tbody>`;
  for (const p of report.plugins) {
    const hooks = p.hooks.map((h) => `${h.hook} ${num(h.calls)}`).join(', ');
    html += `<tr data-plugin="${esc(p.name)}">${td(p.name, 'name')}${td(num(p.calls), 'n')}${td(p.errors, p.errors ? 'n bad' : 'n')}${td(p.slow, p.slow ? 'n bad' : 'n')}${td(`${p.seconds.toFixed(3)} s`, 'n')}${td(us(p.mean_us), 'n')}${td(us(p.p50_us), 'n')}${td(us(p.p99_us), 'n')}${td(hooks, 'left')}</tr>`;
  }
  html += `</tbody></table></div></section>`;
  return html;
}

const style = `
:root { color-scheme: light; --up: #b8f0b8; --down: #ff9a9a; --drain: #a8d0ff; --maint: #d2b48c; --nolb: #ffc870; --line: #c9ccd6; --head: #e8eaf2; }
* { box-sizing: border-box; }
body { margin: 0; padding: 12px; font: 13px/1.35 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1c1e24; background: #f7f7fa; }
header h1 { font-size: 18px; margin: 0 0 4px; }
.meta, .legend { margin: 0 0 6px; }
.muted { color: #6b7080; }
.live { color: #2c9a2c; }
body[data-state="stale"] .live { color: #c03030; }
body[data-state="stale"] .meta::after { content: " — not refreshing"; color: #c03030; }
h2 { font-size: 14px; margin: 18px 0 6px; }
h2 small { font-weight: normal; color: #6b7080; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid var(--line); background: #fff; }
table { border-collapse: collapse; white-space: nowrap; min-width: 100%; }
th, td { padding: 3px 7px; border: 1px solid var(--line); }
th { background: var(--head); font-weight: 600; font-size: 12px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
td small { color: #5a5f70; margin-left: 3px; font-size: 11px; }
.left { text-align: left; }
th.name, td.name { position: sticky; left: 0; text-align: left; background: inherit; z-index: 1; }
th.name { background: var(--head); }
tr { background: #fff; }
tr.total { background: #eef0f6; font-weight: 600; }
tr.route td { color: #3a3f50; }
td.bad { color: #b00020; font-weight: 600; }
.deaths { color: #b00020; font-weight: 600; }
.st { display: inline-block; padding: 1px 6px; border-radius: 3px; font-weight: 600; }
td.st { display: table-cell; border-radius: 0; }
[data-status="UP"] { background: var(--up); }
[data-status="DOWN"] { background: var(--down); }
[data-status="DRAIN"] { background: var(--drain); }
[data-status="MAINT"] { background: var(--maint); }
[data-status="NOLB"] { background: var(--nolb); }
@media (max-width: 640px) {
  body { padding: 8px; font-size: 12px; }
  th, td { padding: 3px 5px; }
  h2 small { display: block; }
}
`;

/** Re-renders from /stats.json every 2 s (not while the tab is hidden), keeping each table's scroll position. */
const refresh = `
const root = document.getElementById('stats');
async function refresh() {
  if (!document.hidden) {
    try {
      const res = await fetch('stats.json', { cache: 'no-store', credentials: 'same-origin' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const report = await res.json();
      const scrolled = new Map([...root.querySelectorAll('.scroll')].map((e) => [e.dataset.key, e.scrollLeft]));
      root.innerHTML = renderTables(report);
      for (const e of root.querySelectorAll('.scroll')) e.scrollLeft = scrolled.get(e.dataset.key) || 0;
      document.body.dataset.state = 'live';
    } catch (err) {
      document.body.dataset.state = 'stale';
    }
  }
  setTimeout(refresh, 2000);
}
setTimeout(refresh, 2000);
`;

/** The whole page, and the Content-Security-Policy that lets only its own script run. */
export function renderPage(report: StatsReport): { html: string; csp: string } {
  const nonce = randomBytes(16).toString('base64');
  // `__name`: what a build that keeps function names (tsx, esbuild keepNames) calls inside a function's source.
  const script = `const __name = (f) => f;\nconst renderTables = ${renderTables.toString()};\n${refresh}`;
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tapgate stats</title>
<style>${style}</style>
</head>
<body data-state="live">
<main id="stats">${renderTables(report)}</main>
<script nonce="${nonce}">${script.replace(/<\/(script)/gi, '<\\/$1')}</script>
</body>
</html>
`;
  const csp = `default-src 'none'; style-src 'unsafe-inline'; script-src 'nonce-${nonce}'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;
  return { html, csp };
}
