// The TCP lifecycle: accept, route, pick a server, connect (trying others when a
// connection fails), then pipe bytes both ways with back-pressure. Each side's end is
// passed on as a half-close; the session ends when both sides have ended. Placing the
// session on a server, the queue and retries are `Dispatch`'s (core/upstream/dispatch.ts).
import { performance } from 'node:perf_hooks';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { TcpContext } from './context.ts';
import type { FrontendRuntime, Generation } from '../generation.ts';
import type { TcpHooks } from '../../sdk/hooks.ts';
import type { Backend, UpstreamServer } from '../upstream/backend.ts';
import { Dispatch, type PickServerHook } from '../upstream/dispatch.ts';
import { PluginError, runner } from '../taps.ts';
import { chosenRoute } from '../routes.ts';
import { tcpTermination } from '../../sdk/termination.ts';
import { inspect } from './inspect.ts';
import type { AccessLog } from '../log.ts';
import { tlsInfoOf } from '../tls/facts.ts';

export interface TcpEnv {
  readonly accessLog: AccessLog | undefined;
  /** Gives `socket` (its first bytes unshifted back into it) to another frontend; false when it has no listener. */
  handoff(frontend: string, socket: Socket): boolean;
}

const noBytes: Buffer = Buffer.alloc(0);

export function handleTcpConnection(fe: FrontendRuntime, gen: Generation, env: TcpEnv, client: Socket): void {
  const ctx = new TcpContext(
    fe.name,
    gen.id,
    { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 },
    { address: client.localAddress ?? '', port: client.localPort ?? 0 },
    tlsInfoOf(client),
    performance.now(),
  );
  new TcpSession(ctx, fe, gen, env, client).start();
}

/**
 * One client connection from accept to close: refused by `accept` taps, inspected,
 * routed, handed to another frontend or placed on a server, then piped. Whatever ends
 * it early (an error, a timeout, a refusal, a plugin that throws) destroys both sides
 * through `#abort`, once, with the first reason kept for the log.
 */
class TcpSession extends Dispatch<TcpContext> {
  /** The frontend's chain until a route is chosen, then the route's. */
  #hooks: TcpHooks;
  /** What inspection read before routing: sent to the server first. */
  #head: Buffer = noBytes;
  /** The server this session holds a slot on: given back once per pick, whether its connection failed or the session ended. */
  #server: UpstreamServer | undefined = undefined;
  #upstream: Socket | undefined = undefined;
  #finished = false;

  constructor(
    ctx: TcpContext,
    readonly fe: FrontendRuntime,
    gen: Generation,
    readonly env: TcpEnv,
    readonly client: Socket,
  ) {
    super(ctx, gen);
    this.#hooks = fe.tcp;
  }

  protected get over(): boolean {
    return this.client.destroyed;
  }

  start(): void {
    const { ctx, fe, gen, client } = this;
    client.pause();
    client.on('error', this.#onError);
    client.on('close', this.#onClose);
    client.setTimeout(fe.timeouts.client, this.#onTimeout);
    try {
      if (fe.tcp.accept.taps.length && runner(fe.tcp.accept)(ctx) === false) return this.#abort('refused by accept');
    } catch (err) {
      return this.fail(err);
    }
    if (fe.inspectDelay > 0 && gen.extensions.detectors.size > 0) {
      inspect(client, gen.extensions.detectors, fe.inspectDelay, (bytes, detected) => {
        if (client.destroyed) return;
        this.#head = bytes;
        ctx.detected = detected;
        if (detected?.protocol === 'tls') ctx.tls = { sni: detected.sni };
        this.#route();
      });
    } else this.#route();
  }

  #onError = (err: Error) => this.#abort(`client: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
  #onClose = () => {
    // Closed before both directions were done (destroyed, killed): the server side goes too.
    if (!doneBothWays(this.client)) this.#abort('client closed');
    this.#maybeFinish();
  };
  #onTimeout = () => this.#abort('client timeout');

  /** Route (on what inspection found), then hand the connection over or place it on a server. */
  #route(): void {
    const { ctx, fe, gen } = this;
    let backend;
    try {
      const chosen = fe.tcp.route.taps.length ? runner(fe.tcp.route)(ctx) : undefined;
      const r = chosenRoute(fe, chosen);
      ctx.route = r;
      this.#hooks = r.tcp;
      if (r.handoff) return this.#handoff(r.handoff);
      const name = typeof chosen === 'string' ? chosen : r.backend;
      backend = name === undefined ? undefined : gen.backends.get(name);
      if (!backend) return this.#abort(name === undefined ? 'no route' : `no backend "${name}"`);
      ctx.backend = backend;
    } catch (err) {
      return this.fail(err);
    }
    this.dispatch(backend, this.#hooks.pickServer as PickServerHook);
  }

  /** Another frontend serves it from here, bytes read so far included: this session only logs that it did. */
  #handoff(target: string): void {
    const { ctx, gen, env, client } = this;
    if (client.readableEnded) return this.#abort(`client ended before hand-off to ${target}`);
    client.off('error', this.#onError);
    client.off('close', this.#onClose);
    client.setTimeout(0);
    client.off('timeout', this.#onTimeout);
    if (this.#head.length) client.unshift(this.#head);
    if (!env.handoff(target, client)) {
      client.on('error', this.#onError);
      client.on('close', this.#onClose);
      return this.#abort(`no listener for frontend ${target}`);
    }
    this.#finished = true;
    env.accessLog?.write({
      gen: gen.id,
      frontend: ctx.frontend,
      route: ctx.route?.name,
      client: ctx.client.address,
      mode: 'tcp',
      handoff: target,
      protocol: ctx.detected?.protocol,
      ...ctx.logFields,
    });
  }

  /** Connects to `server`; once up, bytes flow both ways. A connection that fails first goes back to `redispatch`. */
  protected attempt(server: UpstreamServer): void {
    const { ctx, client } = this;
    this.#server = server;
    const t = (ctx.backend as Backend).timeouts;
    const options = { host: server.address.host, port: server.address.port, allowHalfOpen: true, noDelay: true };
    // ssl: true re-encrypts: the session starts once the handshake (and the server's certificate) passed.
    const sock = server.tls ? tls.connect({ ...options, ...server.tls.connect }) : net.connect(options);
    this.#upstream = sock;
    // setTimeout's callback is a 'timeout' listener: removed on connect, or it would also fire as the idle timeout.
    const connectTimeout = () => sock.destroy(new Error('connect timeout'));
    sock.setTimeout(t.connect, connectTimeout);
    sock.on('error', (err: NodeJS.ErrnoException) => {
      const error = `server: ${err.code ?? err.message}`;
      if (ctx.connectTime >= 0) return this.#abort(error);
      // Not connected: charged to the server, given back, and another server may take the session.
      const termination = err.message === 'connect timeout' ? 'sC' : 'SC';
      this.charge(server, termination);
      this.#giveBack();
      this.redispatch(server, termination, error);
    });
    sock.once(server.tls ? 'secureConnect' : 'connect', () => {
      ctx.connectTime = performance.now() - ctx.start;
      this.charge(server, '');
      sock.off('timeout', connectTimeout);
      sock.setTimeout(t.server, () => this.#abort('server timeout'));
      sock.on('close', () => {
        if (!doneBothWays(sock)) this.#abort('server closed');
        this.#maybeFinish();
      });
      // Each side's end becomes a half-close of the other; sockets close themselves once both directions are done.
      if (this.#head.length) sock.write(this.#head);
      if (client.readableEnded) sock.end();
      else client.pipe(sock);
      sock.pipe(client);
      if (this.#hooks.connected.taps.length) runner(this.#hooks.connected)(ctx);
    });
  }

  /** No server takes the session: it is closed, the reason kept for the log. */
  protected unplaced(_termination: string, error: string): void {
    this.#abort(error);
  }

  /** A plugin (or the kernel) that throws ends only this session, and is reported by name. */
  protected fail(err: unknown): void {
    const plugin = err instanceof PluginError ? err : undefined;
    this.gen.report({ plugin: plugin?.plugin, hook: plugin?.hook ?? 'tcp', frontend: this.fe.name, error: plugin ? plugin.cause : err });
    this.#abort(plugin ? `plugin ${plugin.plugin}` : String(err));
  }

  /** Ends the session at once (errors, timeouts, refusals): both sides are destroyed. */
  #abort(error: string): void {
    this.ctx.error ??= error;
    this.client.destroy();
    this.#upstream?.destroy();
  }

  /** Gives the server's slot back, once per pick. */
  #giveBack(): void {
    const server = this.#server;
    if (!server) return;
    this.#server = undefined;
    this.release(server);
  }

  /** The session is over when both sockets have closed (or the server was never reached). */
  #maybeFinish(): void {
    const { ctx, gen, env, client } = this;
    if (this.#finished || !client.destroyed || (this.#upstream && !this.#upstream.destroyed)) return;
    this.#finished = true;
    this.#giveBack();
    ctx.duration = performance.now() - ctx.start;
    ctx.bytesIn = client.bytesRead;
    ctx.bytesOut = client.bytesWritten;
    const hooks = this.#hooks;
    if (hooks.closed.taps.length) runner(hooks.closed)(ctx);
    env.accessLog?.write({
      gen: gen.id,
      frontend: ctx.frontend,
      route: ctx.route?.name,
      backend: ctx.backend?.name,
      server: ctx.server?.name,
      client: ctx.client.address,
      mode: 'tcp',
      bytes_in: ctx.bytesIn,
      bytes_out: ctx.bytesOut,
      connect_ms: ctx.connectTime < 0 ? undefined : round(ctx.connectTime),
      total_ms: round(ctx.duration),
      queue_ms: ctx.queueTime > 0 ? round(ctx.queueTime) : undefined,
      retries: ctx.retries || undefined,
      protocol: ctx.detected?.protocol,
      termination: tcpTermination(ctx),
      error: ctx.error,
      ...ctx.logFields,
    });
  }
}

/** A socket that has both read its peer's end and finished its own: it closed cleanly. */
const doneBothWays = (s: Socket) => s.readableEnded && s.writableFinished;

const round = (ms: number) => Math.round(ms * 100) / 100;
