// The TCP lifecycle: accept, route, pick a server, connect (trying others when a
// connection fails), then pipe bytes both ways with back-pressure. Each side's end is
// passed on as a half-close; the session ends when both sides have ended.
import { performance } from 'node:perf_hooks';
import net, { type Socket } from 'node:net';
import tls from 'node:tls';
import { TcpContext } from './context.ts';
import type { FrontendRuntime, Generation } from '../generation.ts';
import type { Backend, UpstreamServer } from '../upstream/backend.ts';
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
    fe.name, gen.id,
    { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 },
    { address: client.localAddress ?? '', port: client.localPort ?? 0 },
    tlsInfoOf(client), performance.now(),
  );
  // The frontend's chain until a route is chosen, then the route's.
  let hooks = fe.tcp;
  let backend: Backend | undefined;
  // What inspection read before routing: sent to the server first.
  let head: Buffer = noBytes;
  let server: UpstreamServer | undefined;
  let upstream: Socket | undefined;
  let finished = false;

  // Ends the session at once (errors, timeouts, refusals): both sides are destroyed.
  const abort = (error: string) => {
    ctx.error ??= error;
    client.destroy();
    upstream?.destroy();
  };
  // A plugin (or the kernel) that throws ends only this session, and is reported by name.
  const contain = (err: unknown) => {
    const plugin = err instanceof PluginError ? err : undefined;
    gen.report({ plugin: plugin?.plugin, hook: plugin?.hook ?? 'tcp', frontend: fe.name, error: plugin ? plugin.cause : err });
    abort(plugin ? `plugin ${plugin.plugin}` : String(err));
  };
  // Gives the server back: called once per pick, whether the connection failed or the session ended.
  const release = () => {
    if (!server) return;
    const s = server;
    server = undefined;
    s.release();
    try {
      backend?.balancer.release?.(s, ctx);
    } catch (err) {
      // An algorithm's (a plugin's) failure, on a session's way out: reported, never the process's end.
      gen.report({ hook: 'tcp balancer.release', frontend: fe.name, error: err });
    }
  };
  // The session is over when both sockets have closed (or the server was never reached).
  const maybeFinish = () => {
    if (finished || !client.destroyed || (upstream && !upstream.destroyed)) return;
    finished = true;
    release();
    ctx.duration = performance.now() - ctx.start;
    ctx.bytesIn = client.bytesRead;
    ctx.bytesOut = client.bytesWritten;
    if (hooks.closed.taps.length) runner(hooks.closed)(ctx);
    env.accessLog?.write({
      gen: gen.id, frontend: ctx.frontend, route: ctx.route?.name, backend: ctx.backend?.name, server: ctx.server?.name, client: ctx.client.address,
      mode: 'tcp', bytes_in: ctx.bytesIn, bytes_out: ctx.bytesOut,
      connect_ms: ctx.connectTime < 0 ? undefined : round(ctx.connectTime), total_ms: round(ctx.duration),
      queue_ms: ctx.queueTime > 0 ? round(ctx.queueTime) : undefined, retries: ctx.retries || undefined, protocol: ctx.detected?.protocol,
      termination: tcpTermination(ctx), error: ctx.error,
    });
  };

  client.pause();
  const onError = (err: Error) => abort(`client: ${(err as NodeJS.ErrnoException).code ?? err.message}`);
  const onClose = () => {
    // Closed before both directions were done (destroyed, killed): the server side goes too.
    if (!doneBothWays(client)) abort('client closed');
    maybeFinish();
  };
  const onTimeout = () => abort('client timeout');
  client.on('error', onError);
  client.on('close', onClose);
  client.setTimeout(fe.timeouts.client, onTimeout);

  let attempts = 0;
  let tried: Set<UpstreamServer> | undefined;
  // Runs again from the error handler when a connection fails, so it contains its own throws.
  const connect = (backend: Backend) => {
    try {
      const picked = (hooks.pickServer.taps.length ? runner(hooks.pickServer)(ctx, backend) : undefined) ?? backend.pick(ctx);
      server = backend.untried(ctx, picked as UpstreamServer | undefined, tried);
      if (!server) {
        // Every server at its maxconn: wait in the backend's queue for a slot.
        if (backend.saturated || backend.queued > 0) {
          const queuedAt = performance.now();
          void backend.waitForSlot().then((slot) => (ctx.queueTime += performance.now() - queuedAt, slot)).then((slot) => (client.destroyed ? undefined : slot ? connect(backend) : abort('queue timeout')));
          return;
        }
        return abort('no server available');
      }
      ctx.server = server;
      server.acquire();
      const t = backend.timeouts;
      const options = { host: server.address.host, port: server.address.port, allowHalfOpen: true, noDelay: true };
      // ssl: true re-encrypts: the session starts once the handshake (and the server's certificate) passed.
      const sock = server.tls ? tls.connect({ ...options, ...server.tls.connect }) : net.connect(options);
      upstream = sock;
      // setTimeout's callback is a 'timeout' listener: removed on connect, or it would also fire as the idle timeout.
      const connectTimeout = () => sock.destroy(new Error('connect timeout'));
      sock.setTimeout(t.connect, connectTimeout);
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (ctx.connectTime < 0) backend.reportOutcome(server!, 'connect-error');
        if (ctx.connectTime < 0 && !client.destroyed && attempts++ < backend.retries) {
          ctx.failedTries = [...ctx.failedTries, { server: server!, termination: err.message === 'connect timeout' ? 'sC' : 'SC', error: `server: ${err.code ?? err.message}` }];
          (tried ??= new Set()).add(server!);
          ctx.retries++;
          release();
          return connect(backend);
        }
        abort(`server: ${err.code ?? err.message}`);
      });
      sock.once(server.tls ? 'secureConnect' : 'connect', () => {
        ctx.connectTime = performance.now() - ctx.start;
        backend.reportOutcome(server!, 'ok');
        sock.off('timeout', connectTimeout);
        sock.setTimeout(t.server, () => abort('server timeout'));
        sock.on('close', () => {
          if (!doneBothWays(sock)) abort('server closed');
          maybeFinish();
        });
        // Each side's end becomes a half-close of the other; sockets close themselves once both directions are done.
        if (head.length) sock.write(head);
        if (client.readableEnded) sock.end();
        else client.pipe(sock);
        sock.pipe(client);
        if (hooks.connected.taps.length) runner(hooks.connected)(ctx);
      });
    } catch (err) {
      contain(err);
    }
  };

  // Route (on what inspection found), then hand the connection over or connect it.
  const route = () => {
    try {
      const chosen = fe.tcp.route.taps.length ? runner(fe.tcp.route)(ctx) : undefined;
      const r = chosenRoute(fe, chosen);
      ctx.route = r;
      hooks = r.tcp;
      if (r.handoff) return handoff(r.handoff);
      const name = typeof chosen === 'string' ? chosen : r.backend;
      backend = name === undefined ? undefined : gen.backends.get(name);
      if (!backend) return abort(name === undefined ? 'no route' : `no backend "${name}"`);
      ctx.backend = backend;
    } catch (err) {
      return contain(err);
    }
    connect(backend);
  };
  // Another frontend serves it from here, bytes read so far included: this session only logs that it did.
  const handoff = (target: string) => {
    if (client.readableEnded) return abort(`client ended before hand-off to ${target}`);
    client.off('error', onError);
    client.off('close', onClose);
    client.setTimeout(0);
    client.off('timeout', onTimeout);
    if (head.length) client.unshift(head);
    if (!env.handoff(target, client)) {
      client.on('error', onError);
      client.on('close', onClose);
      return abort(`no listener for frontend ${target}`);
    }
    finished = true;
    env.accessLog?.write({ gen: gen.id, frontend: ctx.frontend, route: ctx.route?.name, client: ctx.client.address, mode: 'tcp', handoff: target, protocol: ctx.detected?.protocol });
  };

  try {
    if (fe.tcp.accept.taps.length && runner(fe.tcp.accept)(ctx) === false) return abort('refused by accept');
  } catch (err) {
    return contain(err);
  }
  if (fe.inspectDelay > 0 && gen.detectors.size > 0) {
    inspect(client, gen.detectors, fe.inspectDelay, (bytes, detected) => {
      if (client.destroyed) return;
      head = bytes;
      ctx.detected = detected;
      if (detected?.protocol === 'tls') ctx.tls = { sni: detected.sni };
      route();
    });
  } else route();
}

/** A socket that has both read its peer's end and finished its own: it closed cleanly. */
const doneBothWays = (s: Socket) => s.readableEnded && s.writableFinished;

const round = (ms: number) => Math.round(ms * 100) / 100;
