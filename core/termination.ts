// Termination state, in the spirit of HAProxy's two-letter flags: who or what ended a
// request or session, and in which phase. First letter: `-` a normal end, `C` the client
// went away, `c` the client timed out, `S` the server refused or broke it, `s` the server
// timed out, `P` the gateway refused it (malformed, no route, no server, a plugin
// failed), `L` a plugin answered it locally. Second letter: `R` reading the request (or
// before any server), `Q` waiting in the queue, `C` connecting, `H` waiting for the
// response head, `D` passing data, `-` it completed.
import type { HttpContext } from './http/context.ts';
import type { TcpContext } from './tcp/context.ts';

const refusals = new Set(['several Host headers', 'no Host header', 'upgrade request with a body', 'Transfer-Encoding in HTTP/1.0', 'body too large', 'no route']);

export function httpTermination(ctx: HttpContext): string {
  const e = ctx.error;
  const phase = ctx.timings.ttfb >= 0 ? 'D' : ctx.server ? 'H' : ctx.timings.queue > 0 ? 'Q' : 'R';
  if (!e) return ctx.server ? '--' : 'L-';
  if (e === 'client aborted') return `C${phase}`;
  if (e === 'client body timeout') return `c${phase}`;
  if (e === 'queue timeout') return 'sQ';
  if (e.startsWith('connect: ')) return 'SC';
  if (e === 'UND_ERR_HEADERS_TIMEOUT') return 'sH';
  if (e === 'UND_ERR_BODY_TIMEOUT') return 'sD';
  if (e === 'no server available') return 'PC';
  if (e.startsWith('plugin ') || e.startsWith('no backend') || refusals.has(e)) return `P${phase}`;
  return `S${phase}`;
}

export function tcpTermination(ctx: TcpContext): string {
  const e = ctx.error;
  const phase = ctx.connectTime >= 0 ? 'D' : ctx.server ? 'C' : ctx.queueTime > 0 ? 'Q' : 'R';
  if (!e) return '--';
  if (e === 'client timeout') return `c${phase}`;
  if (e === 'client closed' || e.startsWith('client')) return `C${phase}`;
  if (e === 'server timeout' || e === 'connect timeout') return `s${phase}`;
  if (e === 'queue timeout') return 'sQ';
  if (e === 'server closed' || e.startsWith('server')) return `S${phase}`;
  return `P${phase}`;
}
