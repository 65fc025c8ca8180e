// The TCP lifecycle: accept, route, pick a server, connect (trying others when a
// connection fails), then pipe bytes both ways with back-pressure. Each side's end is
// passed on as a half-close; the session ends when both sides have ended.
import net, { type Socket } from 'node:net';
import { TcpContext } from './context.ts';
import type { FrontendRuntime, Generation } from '../generation.ts';
import type { UpstreamServer } from '../upstream/backend.ts';
import { PluginError } from '../taps.ts';
import type { AccessLog } from '../log.ts';

export interface TcpEnv {
  readonly accessLog: AccessLog | undefined;
}

export function handleTcpConnection(fe: FrontendRuntime, gen: Generation, env: TcpEnv, client: Socket): void {
  const ctx = new TcpContext(
    fe.name, gen.id,
    { address: client.remoteAddress ?? '', port: client.remotePort ?? 0 },
    { address: client.localAddress ?? '', port: client.localPort ?? 0 },
    undefined, performance.now(),
  );
  const hooks = fe.tcp;
  let server: UpstreamServer | undefined;
  let upstream: Socket | undefined;
  let finished = false;

  // Ends the session at once (errors, timeouts, refusals): both sides are destroyed.
  const abort = (error: string) => {
    ctx.error ??= error;
    client.destroy();
    upstream?.destroy();
  };
  // The session is over when both sockets have closed (or the server was never reached).
  const maybeFinish = () => {
    if (finished || !client.destroyed || (upstream && !upstream.destroyed)) return;
    finished = true;
    if (server) {
      server.active--;
      if (ctx.backend) gen.backends.get(ctx.backend.name)?.balancer.release?.(server, ctx);
    }
    ctx.duration = performance.now() - ctx.start;
    ctx.bytesIn = client.bytesRead;
    ctx.bytesOut = client.bytesWritten;
    if (hooks.closed.taps.length) hooks.closed.call(ctx);
    env.accessLog?.write({
      gen: gen.id, frontend: ctx.frontend, backend: ctx.backend?.name, server: ctx.server?.name, client: ctx.client.address,
      mode: 'tcp', bytes_in: ctx.bytesIn, bytes_out: ctx.bytesOut,
      connect_ms: ctx.connectTime < 0 ? undefined : round(ctx.connectTime), total_ms: round(ctx.duration), error: ctx.error,
    });
  };

  client.pause();
  client.on('error', (err) => abort(`client: ${(err as NodeJS.ErrnoException).code ?? err.message}`));
  client.on('close', () => {
    if (upstream && ctx.connectTime < 0) upstream.destroy();
    maybeFinish();
  });
  client.setTimeout(fe.timeouts.client, () => abort('client timeout'));

  try {
    if (hooks.accept.taps.length && hooks.accept.call(ctx) === false) return abort('refused by accept');
    const name = (hooks.route.taps.length ? hooks.route.call(ctx) : undefined) ?? fe.defaultBackend;
    const backend = name === undefined ? undefined : gen.backends.get(name);
    if (!backend) return abort(name === undefined ? 'no route' : `no backend "${name}"`);
    ctx.backend = backend;

    let attempts = 0;
    const connect = () => {
      server = ((hooks.pickServer.taps.length ? hooks.pickServer.call(ctx, backend) : undefined) ?? backend.pick(ctx)) as UpstreamServer | undefined;
      if (!server) return abort('no server available');
      ctx.server = server;
      server.active++;
      server.total++;
      const t = backend.timeouts;
      const sock = net.connect({ host: server.address.host, port: server.address.port, allowHalfOpen: true, noDelay: true });
      upstream = sock;
      sock.setTimeout(t.connect, () => sock.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
      sock.on('error', (err: NodeJS.ErrnoException) => {
        if (ctx.connectTime < 0 && !client.destroyed && attempts++ < backend.retries) {
          server!.active--;
          backend.balancer.release?.(server!, ctx);
          server = undefined;
          return connect();
        }
        abort(`server: ${err.code ?? err.message}`);
      });
      sock.once('connect', () => {
        ctx.connectTime = performance.now() - ctx.start;
        sock.setTimeout(t.server, () => abort('server timeout'));
        sock.on('close', maybeFinish);
        // Each side's end becomes a half-close of the other; sockets close themselves once both directions are done.
        client.pipe(sock);
        sock.pipe(client);
        try {
          if (hooks.connected.taps.length) hooks.connected.call(ctx);
        } finally {
          client.resume();
        }
      });
    };
    connect();
  } catch (err) {
    const error = err instanceof PluginError ? err.cause : err;
    gen.report({ plugin: err instanceof PluginError ? err.plugin : undefined, hook: err instanceof PluginError ? err.hook : 'tcp', frontend: fe.name, error });
    abort(err instanceof PluginError ? `plugin ${err.plugin}` : String(err));
  }
}

const round = (ms: number) => Math.round(ms * 100) / 100;
