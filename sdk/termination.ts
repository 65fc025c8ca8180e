// Termination state, in the spirit of HAProxy's "session state at disconnection": two
// letters, who ended a request or session and in which phase. The README's table lists
// every pair the kernel writes, its answer and whom it is charged to; only `S` and `s`
// touch a server (its errors, its 5xx share, its health).
//
// Who: `-` a normal end, `L` a plugin answered, `C` the client went away (closed, reset),
// `c` the client went silent (timeout), `P` the gateway refused the request (malformed,
// too large, no route), `R` a resource ran out (no server available, no local port),
// `I` an internal failure (a plugin threw), `S` the server refused or broke the exchange,
// `s` the server went silent (timeout).
// Phase: `R` the request (its head, and the plugins deciding on it, before a server),
// `B` the request body still arriving, `Q` the backend's queue, `C` connecting, `H`
// waiting for the response head, `D` the response body, `T` a tunnel (after a 101),
// `-` completed.
import type { HttpContext, TcpContext } from './context.ts';

export type Who = '-' | 'L' | 'C' | 'c' | 'P' | 'R' | 'I' | 'S' | 's';
export type Phase = 'R' | 'B' | 'Q' | 'C' | 'H' | 'D' | 'T' | '-';

/** Whom a termination is charged to: a server (`connect` or `response` errors) or nobody. */
export function chargedTo(termination: string): 'connect' | 'response' | undefined {
  const who = termination[0];
  if (who !== 'S' && who !== 's') return undefined;
  return termination[1] === 'C' ? 'connect' : termination[1] === 'Q' ? undefined : 'response';
}

/** The request's termination: what the kernel recorded when it ended badly, else a normal end. */
export function httpTermination(ctx: HttpContext): string {
  return ctx.termination || (ctx.server ? '--' : 'L-');
}

export function tcpTermination(ctx: TcpContext): string {
  const e = ctx.error;
  if (!e) return '--';
  const phase = ctx.connectTime >= 0 ? 'D' : ctx.server ? 'C' : ctx.queueTime > 0 ? 'Q' : 'R';
  if (e === 'client timeout') return `c${phase}`;
  if (e.startsWith('client')) return `C${phase}`;
  if (e === 'server timeout' || e === 'server: connect timeout') return `s${phase}`;
  if (e === 'queue timeout') return 'sQ';
  if (e === 'no server available') return 'RC';
  if (e.startsWith('server')) return `S${phase}`;
  if (e.startsWith('plugin ')) return `I${phase}`;
  return `P${phase}`;
}
