// Upgrades (`Connection: Upgrade`, WebSocket and any other protocol): the request takes
// the same path as every other one (refusals, route, `request` taps, backend, server,
// `upstreamRequest`, retries) in core/http/proxy.ts, answered through a response bound
// to the raw socket. When the server switches protocols (101), the client gets the 101
// and the connection becomes a byte pipe with its own idle timeout (`timeouts.tunnel`);
// any other answer is passed to the client and the connection closed.
import { performance } from 'node:perf_hooks';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { HttpHeaders, UpstreamResponse } from '../../sdk/context.ts';
import type { HttpContext } from './context.ts';
import { handleHttpRequest, type HttpEnv } from './proxy.ts';
import { hopByHop } from '../../sdk/http.ts';
import type { ClientRequest, ClientResponse } from './exchange.ts';
import type { FrontendRuntime, Generation } from '../generation.ts';
import type { HttpHooks } from '../../sdk/hooks.ts';
import type { Backend } from '../upstream/backend.ts';
import { isThenable, runner, type PluginError } from '../taps.ts';

/** What proxy.ts needs to carry an upgrade: the protocol to ask the server for, and what to do once it switched. */
export interface UpgradeRequest {
  /** The client's `Upgrade` value, sent to the server with `Connection: upgrade`. */
  readonly protocol: string;
  /**
   * The server answered 101 on `server`: answer the client through `res` and relay bytes
   * both ways. `done` is called once, when both sides are closed (or with the error of an
   * `upstreamResponse` tap, before anything was sent to the client).
   */
  switched(ctx: HttpContext, hooks: HttpHooks, res: ClientResponse, headers: HttpHeaders, server: Duplex, done: (outcome: 'done' | PluginError) => void): void;
}

/**
 * An upgrade request's head has been read (core/http/h1/server.ts): `socket` is the
 * client's, `head` the bytes it sent past the head. The request takes the usual path;
 * its answer is written through `res`, which closes the connection unless it is a 101.
 */
export function handleUpgrade(fe: FrontendRuntime, gen: Generation, env: HttpEnv, req: ClientRequest, res: ClientResponse, socket: Socket, head: Buffer): void {
  const tunnel = new Tunnel(socket, head, String(req.headers.upgrade ?? ''));
  res.shouldKeepAlive = false;
  void handleHttpRequest(fe, gen, env, req, res, tunnel);
}

class Tunnel implements UpgradeRequest {
  /** True once the client has the 101: the connection is a byte pipe, no longer HTTP. */
  open = false;

  constructor(
    private readonly client: Socket,
    /** Bytes the client sent past its request head: the new protocol's first, sent to the server after its 101. */
    private readonly head: Buffer,
    readonly protocol: string,
  ) {}

  switched(ctx: HttpContext, hooks: HttpHooks, res: ClientResponse, headers: HttpHeaders, server: Duplex, done: (outcome: 'done' | PluginError) => void): void {
    ctx.timings.ttfb = performance.now() - ctx.timings.start;
    // Until the relay starts, an error of the server's socket only has to end it.
    const early = () => server.destroy();
    server.on('error', early);
    const listed = headers.connection;
    for (const name in headers) if (hopByHop.has(name)) delete headers[name];
    if (listed) for (const name of String(listed).toLowerCase().split(',')) if (name.trim() !== 'upgrade') delete headers[name.trim()];
    headers.connection = 'upgrade';
    headers.upgrade ??= this.protocol;

    const hook = hooks.upstreamResponse;
    if (!hook.taps.length) return this.#relay(ctx, res, headers, server, early, done);
    // Taps see the 101 like any answer (a persistence cookie may be set on it); it has no body, and its status stays 101.
    const observers: { end(): void }[] = [];
    const response: UpstreamResponse = { status: 101, headers, onBody: (o) => void observers.push(o), replaceBody: () => undefined };
    const decided = () => {
      for (const o of observers) {
        try {
          o.end();
        } catch {
          // A plugin's observer: the tunnel is not its to break.
        }
      }
      if (this.client.destroyed || server.destroyed) {
        ended(ctx, this.client.destroyed ? 'C' : 'S', this.client.destroyed ? 'client aborted' : 'server closed');
        server.destroy();
        return done('done');
      }
      this.#relay(ctx, res, response.headers, server, early, done);
    };
    // Taps' errors come wrapped with the plugin's name (core/taps.ts): the request gets a 500.
    const failed = (err: PluginError) => {
      server.destroy();
      done(err);
    };
    let taps;
    try {
      taps = runner(hook)(ctx, response);
    } catch (err) {
      return failed(err as PluginError);
    }
    if (isThenable(taps)) taps.then(decided, failed);
    else decided();
  }

  /** The 101 to the client, then bytes both ways with back-pressure; each side's end is a half-close of the other. */
  #relay(ctx: HttpContext, res: ClientResponse, headers: HttpHeaders, server: Duplex, early: () => void, done: (outcome: 'done') => void): void {
    const client = this.client;
    const upstream = server as Socket;
    this.open = true;
    ctx.status = 101;
    res.writeHead(101, headers as Record<string, string | string[]>);
    res.end();

    let finished = false;
    const cut = (who: 'C' | 'c' | 'S', reason: string) => {
      ended(ctx, who, reason);
      client.destroy();
      upstream.destroy();
    };
    // Both sockets closed: the session is over (once); the server's slot is given back.
    const maybeDone = () => {
      if (finished || !client.destroyed || !upstream.destroyed) return;
      finished = true;
      done('done');
    };
    upstream.off('error', early);
    upstream.on('error', (err: NodeJS.ErrnoException) => cut('S', `server: ${err.code ?? err.message}`));
    client.on('error', (err: NodeJS.ErrnoException) => cut('C', `client: ${err.code ?? err.message}`));
    // Before the response's own 'close' listener: the request's log line and `responseSent` see why it ended.
    client.prependListener('close', () => {
      if (!doneBothWays(client)) cut('C', 'client closed');
      maybeDone();
    });
    upstream.on('close', () => {
      if (!doneBothWays(upstream)) cut('S', 'server closed');
      maybeDone();
    });
    // Idle in both directions this long: cut. Bytes either way touch both sockets, so each socket's own timer does.
    const idle = (ctx.backend as Backend).timeouts.tunnel;
    client.setTimeout(idle, () => cut('c', 'tunnel timeout'));
    upstream.setTimeout(idle, () => cut('c', 'tunnel timeout'));

    // The server may half-close while the client still sends (and the other way round).
    upstream.allowHalfOpen = true;
    client.on('data', (chunk: Buffer) => (ctx.bytesIn += chunk.length));
    upstream.on('data', (chunk: Buffer) => (ctx.bytesOut += chunk.length));
    if (this.head.length) {
      ctx.bytesIn += this.head.length;
      upstream.write(this.head);
    }
    client.pipe(upstream);
    upstream.pipe(client);
    // Either may already be gone (a server that closed right after its 101).
    if (client.destroyed || upstream.destroyed) {
      if (!doneBothWays(client) || !doneBothWays(upstream)) cut(client.destroyed ? 'C' : 'S', client.destroyed ? 'client closed' : 'server closed');
      queueMicrotask(maybeDone);
    }
  }
}

/** The tunnel ended badly: who ended it (core/termination.ts), in the tunnel phase. The first ending stands. */
function ended(ctx: HttpContext, who: 'C' | 'c' | 'S', reason: string): void {
  ctx.error ??= reason;
  ctx.termination ||= `${who}T`;
}

/** A socket that has both read its peer's end and finished its own: it closed cleanly. */
const doneBothWays = (s: Socket) => s.readableEnded && s.writableFinished;
