// The HTTP lifecycle, top to bottom: a request is read, checked, offered to the
// `request` taps, routed to a backend, placed on a server, sent upstream and its
// response streamed back. Plugins meet it only at the hooks.
import { performance } from 'node:perf_hooks';
import { Readable, Transform, pipeline, type Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { HttpContext } from './context.ts';
import { type BodyObserver, type HttpAnswer, type HttpHeaders, type UpstreamResponse } from '../../sdk/context.ts';
import { errorBody, statusText } from './errors.ts';
import { validHost } from './fields.ts';
import { hopByHop } from '../../sdk/http.ts';
import type { UpgradeRequest } from './upgrade.ts';
import { pump, type ClientRequest, type ClientResponse } from './exchange.ts';
import type { FrontendRuntime, Generation, RouteRuntime } from '../generation.ts';
import { chosenRoute } from '../routes.ts';
import { type RouteView } from '../../sdk/routes.ts';
import type { Eventually } from '../../sdk/hooks.ts';
import { ClientFault, isClientFault } from '../termination.ts';
import { httpTermination, type Phase, type Who } from '../../sdk/termination.ts';
import type { UpstreamServer } from '../upstream/backend.ts';
import { Dispatch, connectFailure, type ConnectFailure, type PickServerHook } from '../upstream/dispatch.ts';
import { PluginError, isThenable, runner } from '../taps.ts';
import type { AccessLog } from '../log.ts';

export interface HttpEnv {
  readonly accessLog: AccessLog | undefined;
  /** True once the generation drains: responses then close their connection. */
  readonly draining: boolean;
}

/** Serves one request; an upgrade request (core/http/upgrade.ts) comes with `upgrade`, and `res` bound to its raw socket. */
export function handleHttpRequest(fe: FrontendRuntime, gen: Generation, env: HttpEnv, req: ClientRequest, res: ClientResponse, upgrade?: UpgradeRequest): void {
  const ctx = new HttpContext(fe.name, gen.id, req.method, req.url, req.httpVersion, req.headers, req.client, req.local, req.tls, performance.now());
  const proxying = new Proxying(ctx, fe, gen, env, req, res, upgrade);
  res.once('close', () => proxying.finished());
  proxying.start();
}

/**
 * One request's way from its hooks to a server and back; placing it on a server, the
 * queue and retries are `Dispatch`'s (core/upstream/dispatch.ts). Each step runs in the
 * turn of the one before and waits only when a tap's promise, the queue or the server
 * makes it: no promise or microtask of the kernel's own otherwise. Whatever a step throws
 * ends the request through `fail` (a 500); a fault of the client's (its body broken or
 * cut, the client gone) ends it through `#clientFault`, charged to nobody. Once ended,
 * steps still pending (a tap's promise, the queue) do nothing.
 */
class Proxying extends Dispatch<HttpContext> {
  #chosen: string | RouteView | void | undefined = undefined;
  #body: Readable | null = null;
  /** The try in flight at a server. */
  #exchange: ProxyHandler | undefined = undefined;
  /** The request has ended (failed, or the client is gone): pending steps stop. */
  #over = false;

  constructor(
    ctx: HttpContext,
    readonly fe: FrontendRuntime,
    gen: Generation,
    readonly env: HttpEnv,
    readonly req: ClientRequest,
    readonly res: ClientResponse,
    readonly upgrade: UpgradeRequest | undefined,
  ) {
    super(ctx, gen);
  }

  protected get over(): boolean {
    return this.#over;
  }

  /** Sent again only while nothing of it is consumed: its body unread, no answer begun. */
  protected override get retryable(): boolean {
    return !this.#body?.readableDidRead && !this.res.headersSent && !this.res.destroyed;
  }

  start(): void {
    const body = this.req.body;
    // The body may fail at any time from here (malformed, cut, too slow), whoever reads it and whether or not anyone does yet.
    if (body) body.once('error', (err: Error) => this.#bodyFailed(err));
    const refusal = refuseMalformed(this.req, this.fe, this.upgrade !== undefined);
    if (refusal) {
      this.#over = true;
      this.#end('P', refusal.reason, 'R');
      this.res.shouldKeepAlive = false;
      return sendError(this.res, this.ctx, refusal.status, this.env);
    }
    this.received();
  }

  /** The frontend's `received` taps (before routing) may answer. */
  received(): void {
    try {
      const hook = this.fe.http.received;
      if (hook.taps.length && this.#answered(runner(hook)(this.ctx), this.#route)) return;
      this.#route();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Routed, then the route's `request` taps may answer. */
  #route(): void {
    const { ctx, fe } = this;
    const chosen = (this.#chosen = fe.http.route.taps.length ? runner(fe.http.route)(ctx) : undefined);
    const route = chosenRoute(fe, chosen);
    ctx.route = route;
    // From here on, the route's chain: the frontend's taps and the route's own.
    const hook = route.http.request;
    if (hook.taps.length && this.#answered(runner(hook)(ctx), this.#toBackend)) return;
    this.#toBackend();
  }

  /**
   * True when a bail hook's result settles the request for now: an answer (sent), or a
   * promise (then `next` runs once it is known not to be an answer).
   */
  #answered(answer: Eventually<HttpAnswer | void | undefined>, next: (this: Proxying) => void): boolean {
    if (isThenable(answer)) {
      answer.then(
        (known: HttpAnswer | void | undefined) => this.#step(() => (known ? sendAnswer(this.res, this.ctx, known, this.env) : next.call(this))),
        (err) => this.#step(() => this.fail(err)),
      );
      return true;
    }
    if (!answer) return false;
    sendAnswer(this.res, this.ctx, answer, this.env);
    return true;
  }

  #toBackend(): void {
    const { ctx, fe, gen } = this;
    const chosen = this.#chosen;
    const name = typeof chosen === 'string' ? chosen : (ctx.route as RouteRuntime).backend;
    const backend = name === undefined ? undefined : gen.backends.get(name);
    if (!backend) {
      this.#over = true;
      this.#end('P', name === undefined ? 'no route' : `no backend "${name}"`, 'R');
      return sendError(this.res, ctx, 503, this.env);
    }
    ctx.backend = backend;
    const req = this.req;
    this.#body = req.body ? requestBody(req, req.body, fe, ctx) : null;
    ctx.upstream = { method: ctx.method, path: ctx.url, headers: upstreamHeaders(ctx, fe) };
    const hooks = hooksOf(ctx, fe);
    const hook = hooks.upstreamRequest;
    if (hook.taps.length) {
      const done = runner(hook)(ctx);
      if (isThenable(done)) {
        done.then(
          () => this.#step(() => this.dispatch(backend, hooks.pickServer as PickServerHook)),
          (err) => this.#step(() => this.fail(err)),
        );
        return;
      }
    }
    this.dispatch(backend, hooks.pickServer as PickServerHook);
  }

  /** One try at `server`: the request goes out, the answer comes back through a ProxyHandler. */
  protected attempt(server: UpstreamServer): void {
    const { ctx, res, env } = this;
    const handler = new ProxyHandler(ctx, this.fe, this.gen, env, res, (outcome) => this.#exchanged(server, outcome), this.upgrade);
    this.#exchange = handler;
    const up = ctx.upstream!;
    // With `upgrade`, undici sends `Connection: upgrade` and `Upgrade` itself, and hands over the socket on a 101.
    server.pool.dispatch(
      { method: up.method, path: up.path, headers: up.headers as Record<string, string | string[]>, body: this.#body, upgrade: this.upgrade?.protocol },
      handler,
    );
  }

  /** No server took the request (none available, no slot in time, every try refused): a 503. */
  protected unplaced(termination: string, error: string): void {
    this.#over = true;
    this.#end(termination[0] as Who, error, termination[1] as Phase);
    sendError(this.res, this.ctx, 503, this.env);
  }

  /** A try ended: done, failed, or (the server never saw the request) one more, on another server. */
  #exchanged(server: UpstreamServer, outcome: Outcome): void {
    this.#exchange = undefined;
    try {
      this.release(server);
      if (outcome instanceof Error) return this.fail(outcome);
      const ctx = this.ctx;
      if (outcome === 'done') return this.charge(server, ctx.termination, ctx.status >= 500);
      // A connection to the server failed before it saw anything: another server may do (redispatch).
      this.charge(server, outcome.termination);
      this.redispatch(server, outcome.termination, outcome.error);
    } catch (err) {
      this.fail(err);
    }
  }

  /** Runs a step after a wait, unless the request ended meanwhile; its failure ends the request. */
  #step(run: () => void): void {
    if (this.#over) return;
    try {
      run();
    } catch (err) {
      this.fail(err);
    }
  }

  protected fail(err: unknown): void {
    if (isClientFault(err)) {
      if (this.#over) return;
      this.#over = true;
      return this.#clientFault(err);
    }
    const { ctx, fe, gen, res, env } = this;
    const error = err instanceof Error ? err : new Error(String(err));
    // Reported even when the request is over: a plugin that fails is told of whatever the client did.
    if (err instanceof PluginError) gen.report({ plugin: err.plugin, hook: err.hook, frontend: fe.name, error: err.cause });
    else gen.report({ hook: 'http', frontend: fe.name, error });
    if (this.#over) return;
    this.#over = true;
    // A plugin's failure, or the kernel's own: contained to this request.
    this.#end('I', err instanceof PluginError ? `plugin ${err.plugin}` : error.message);
    const hooks = hooksOf(ctx, fe);
    if (hooks.requestError.taps.length) runner(hooks.requestError)(ctx, error);
    if (!res.headersSent) sendError(res, ctx, 500, env);
    else res.destroy();
  }

  /** The request body failed (malformed, too large, cut, too slow): the try in flight learns it from its body, or the request ends here. */
  #bodyFailed(err: Error): void {
    if (this.#exchange) return this.#exchange.clientFailed(err);
    if (this.#over) return;
    this.#over = true;
    this.#clientFault(err);
  }

  /** Ends the request for a fault of the client's: answered when it can still read (400, 408, 413), charged to nobody. */
  #clientFault(err: Error): void {
    const { ctx, res } = this;
    const fault = isClientFault(err) ? err : new ClientFault(err.message, 'C', 0);
    this.#end(fault.who, fault.message, fault.phase);
    const hooks = hooksOf(ctx, this.fe);
    if (hooks.requestError.taps.length) runner(hooks.requestError)(ctx, fault);
    if (fault.status && !res.headersSent && !res.destroyed) {
      res.shouldKeepAlive = false;
      sendError(res, ctx, fault.status, this.env);
    } else if (!res.writableFinished) res.destroy();
  }

  /** Records who ended the request and why; the phase is where the request is now unless given. The first ending stands. */
  #end(who: Who, error: string, phase?: Phase): void {
    const ctx = this.ctx;
    if (ctx.termination) return;
    ctx.error ??= error;
    ctx.termination = who + (phase ?? this.#phase());
  }

  #phase(): Phase {
    const ctx = this.ctx;
    if (ctx.status === 101) return 'T';
    // The server's head arrived: taps on it (H), then the answer under way to the client (D).
    if (ctx.timings.ttfb >= 0) return this.res.headersSent ? 'D' : 'H';
    if (this.queued) return 'Q';
    return ctx.server ? 'H' : 'R';
  }

  /** The answer is done, or the client is gone: the request's end is observed and logged. */
  finished(): void {
    const { ctx, res } = this;
    ctx.timings.total = performance.now() - ctx.timings.start;
    if (!res.writableFinished && !ctx.termination) {
      this.#over = true;
      // The client went away (its connection closed, its stream reset) before the whole answer was sent.
      const fault = this.req.body?.errored;
      if (isClientFault(fault)) this.#end(fault.who, fault.message, fault.phase);
      else this.#end('C', 'client aborted');
    }
    finish(ctx, this.fe, this.gen, this.env);
  }
}

/** The hooks serving a request: its route's chain once chosen, the frontend's before. */
const hooksOf = (ctx: HttpContext, fe: FrontendRuntime) => (ctx.route as RouteRuntime | undefined)?.http ?? fe.http;

/** What llhttp lets through but a gateway must not: smuggling shapes and ambiguous heads. */
function refuseMalformed(req: ClientRequest, fe: FrontendRuntime, upgrading: boolean): { status: number; reason: string } | undefined {
  // The server sides count Host fields and leave the verdict here, the one place for every request (RFC 9112 3.2).
  const hosts = req.hosts;
  if (hosts > 1) return { status: 400, reason: 'several Host headers' };
  if (hosts === 0 && req.httpVersion === '1.1') return { status: 400, reason: 'no Host header' };
  // The HTTP/1 side reads no body on an upgrade (core/http/h1/server.ts): what follows the head is the new protocol's bytes.
  if (upgrading && (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined))
    return { status: 400, reason: 'upgrade request with a body' };
  const host = req.headers.host;
  if (typeof host === 'string' && !validHost(host)) return { status: 400, reason: 'invalid Host' };
  const te = req.headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersion === '1.0') return { status: 400, reason: 'Transfer-Encoding in HTTP/1.0' };
    // RFC 9112 6.1 and 6.3: chunked must be the last coding, once; any other is one the gateway does not decode.
    // (6.1 suggests 501 for those: a 4xx keeps a client's malformed request out of the gateway's own 5xx.)
    if (String(te).trim().toLowerCase() !== 'chunked') return { status: 400, reason: 'Transfer-Encoding other than chunked' };
  }
  const max = fe.limits.max_body_size;
  if (max > 0 && Number(req.headers['content-length'] ?? 0) > max) return { status: 413, reason: 'body too large' };
  return undefined;
}

/**
 * How one try at one server ended, as its ProxyHandler tells it: 'done' (answered, or
 * failed and answered for), a connection that failed before the server saw anything
 * (`SC` refused, `sC` timed out, `RC` no local port or file), or the error that ends the
 * request (a plugin's, the client's).
 */
type Outcome = 'done' | { readonly termination: ConnectFailure; readonly error: string } | PluginError | ClientFault;

/** Builds the request head for the server: hop-by-hop headers out, X-Forwarded-* in. */
function upstreamHeaders(ctx: HttpContext, fe: FrontendRuntime): HttpHeaders {
  const src = ctx.headers;
  const out: HttpHeaders = {};
  const listed = src.connection;
  const dropped = listed
    ? new Set(
        String(listed)
          .toLowerCase()
          .split(',')
          .map((s) => s.trim()),
      )
    : undefined;
  for (const name in src) {
    if (hopByHop.has(name) || dropped?.has(name)) continue;
    out[name] = src[name];
  }
  const f = fe.forwarded;
  if (f.xff) {
    const prior = src['x-forwarded-for'];
    out['x-forwarded-for'] = prior ? `${prior}, ${ctx.client.address}` : ctx.client.address;
  }
  if (f.proto_host) {
    out['x-forwarded-proto'] = ctx.tls ? 'https' : 'http';
    if (src.host !== undefined) out['x-forwarded-host'] = src.host;
  }
  if (f.via) out.via = src.via ? `${src.via}, ${ctx.httpVersion} ${f.via}` : `${ctx.httpVersion} ${f.via}`;
  return out;
}

/** Client body phase: an idle timeout, and a size limit when no length is announced. */
function requestBody(req: ClientRequest, body: Readable, fe: FrontendRuntime, ctx: HttpContext): Readable {
  req.setTimeout(fe.timeouts.client, () => body.destroy(new ClientFault('client body timeout', 'c', 408, 'B')));
  body.once('end', () => req.setTimeout(0));
  const length = req.headers['content-length'];
  if (length !== undefined) {
    // Announced (and refused above the limit already): the parser delivers exactly that many bytes.
    body.once('end', () => (ctx.bytesIn = Number(length)));
    return body;
  }
  // Chunked: counted as it passes, and cut above the limit.
  const max = fe.limits.max_body_size;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) {
      ctx.bytesIn += chunk.length;
      if (max > 0 && ctx.bytesIn > max) return done(new ClientFault('body too large', 'P', 413, 'B'));
      done(null, chunk);
    },
  });
  pipeline(body, counted, () => undefined);
  return counted;
}

/** The server's head as `upstreamResponse` taps see it, keeping what they ask for. */
class ServerHead implements UpstreamResponse {
  observers: BodyObserver[] | undefined = undefined;
  replacement: Uint8Array | undefined = undefined;
  constructor(
    public status: number,
    public headers: HttpHeaders,
    private readonly report: (err: unknown) => void,
  ) {}
  onBody(observer: BodyObserver): void {
    (this.observers ??= []).push(observer);
  }
  replaceBody(body: Uint8Array): void {
    this.replacement = body;
  }
  /** Tells each observer; one that throws is dropped and reported: its plugin loses the body, the client does not. */
  tell(observers: BodyObserver[], call: (o: BodyObserver) => void): void {
    for (let i = 0; i < observers.length; i++) {
      try {
        call(observers[i]!);
      } catch (err) {
        observers.splice(i--, 1);
        this.report(err);
      }
    }
  }
}

/** Streams the server's answer to the client with back-pressure on both sides. */
class ProxyHandler implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined;
  /** What `upstreamResponse` taps saw and asked for (body observers, a replacement body). */
  #head: ServerHead | undefined;
  #pending: Buffer[] | undefined;
  #headPending = false;
  #ended = false;
  #trailers: Record<string, string | string[]> | undefined;
  #done = false;
  /** Resumes the server's side once the client has drained: made when first needed. */
  #resumer: (() => void) | undefined = undefined;

  constructor(
    private readonly ctx: HttpContext,
    private readonly fe: FrontendRuntime,
    private readonly gen: Generation,
    private readonly env: HttpEnv,
    private readonly res: ClientResponse,
    private readonly settle: (outcome: Outcome) => void,
    private readonly upgrade?: UpgradeRequest,
  ) {
    res.once('close', () => {
      if (!this.#done) this.#controller?.abort(new ClientFault('client went away', 'C', 0));
    });
  }

  /** The server's body only goes on to the client (no tap observes or replaces it, none is still deciding): the pool may skip parsing it. */
  get rawBody(): boolean {
    const head = this.#head;
    return !this.#headPending && (!head || (!head.observers && !head.replacement));
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller;
    if (this.res.destroyed) controller.abort(new ClientFault('client went away', 'C', 0));
  }

  /** The client's side failed (its body, or the client itself) while this try was at the server: it ends, charged to nobody. */
  clientFailed(err: Error): void {
    if (this.#done) return;
    if (this.#controller) this.#controller.abort(err);
    else this.onResponseError(undefined as unknown as Dispatcher.DispatchController, err);
  }

  onResponseStart(controller: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[]>): void {
    if (status < 200) return this.#informational(status, headers);
    const ctx = this.ctx;
    ctx.timings.ttfb = performance.now() - ctx.timings.start;
    const connection = headers.connection;
    // Set to undefined (skipped when the head is written), not deleted: a delete turns the object into a slow dictionary.
    const fields = headers as HttpHeaders;
    for (const name in fields) if (hopByHop.has(name)) fields[name] = undefined;
    if (connection) for (const name of String(connection).toLowerCase().split(',')) if (name.trim() in fields) fields[name.trim()] = undefined;
    const hook = hooksOf(ctx, this.fe).upstreamResponse;
    if (!hook.taps.length) return void this.#writeHead(status, headers);
    // A plugin's body observer that throws is contained there, and reported here.
    const report = (error: unknown) => this.gen.report({ hook: 'http.upstreamResponse (a body observer)', frontend: this.fe.name, error });
    const response = (this.#head = new ServerHead(status, headers, report));
    let done;
    try {
      done = runner(hook)(ctx, response);
    } catch (err) {
      return this.#fail(err as Error);
    }
    if (!isThenable(done)) return void this.#headDecided(response);
    // A tap is still deciding: the body waits (and is kept) until it has.
    this.#headPending = true;
    controller.pause();
    done.then(
      () => {
        this.#headPending = false;
        if (!this.#headDecided(response) || this.#ended) return;
        if (!this.res.writableNeedDrain) controller.resume();
        else this.res.once('drain', (this.#resumer ??= () => this.#controller?.resume()));
      },
      (err) => {
        this.#headPending = false;
        this.#fail(err);
      },
    );
  }

  /** The `upstreamResponse` taps are done with `response`: its head goes out, then what was held back. False when the head could not be written. */
  #headDecided(response: ServerHead): boolean {
    const replacement = response.replacement;
    if (replacement) {
      if (response.status !== 204 && response.status !== 304) response.headers['content-length'] = String(replacement.length);
      else delete response.headers['content-length'];
    }
    if (!this.#writeHead(response.status, response.headers)) return false;
    if (replacement) this.#write(Buffer.from(replacement.buffer, replacement.byteOffset, replacement.length));
    else if (this.#pending) for (const chunk of this.#pending) this.#write(chunk);
    this.#pending = undefined;
    if (this.#ended) this.#end();
    return true;
  }

  /** An upgrade's server switched protocols: the client gets the 101 and the sockets are relayed until both close. */
  onRequestUpgrade(_controller: Dispatcher.DispatchController, _status: number, headers: HttpHeaders, socket: Duplex): void {
    this.#done = true;
    this.upgrade!.switched(this.ctx, hooksOf(this.ctx, this.fe), this.res, headers, socket, this.settle);
  }

  /** Ends the exchange with `err` here, whether or not the server's answer has arrived whole meanwhile. */
  #fail(err: Error): void {
    this.#controller?.abort(err);
    this.onResponseError(this.#controller!, err);
  }

  /** False when the head cannot be written (a tap set a header no HTTP message may carry): the request then fails with a 502. */
  /**
   * A server's interim response (103 Early Hints, its own 100 Continue) goes on to the
   * client as it came, hop-by-hop fields removed; plugins and the cache see only the final
   * one. The client's side drops it where the client cannot take one (HTTP/1.0).
   */
  #informational(status: number, headers: Record<string, string | string[]>): void {
    if (this.#done || status === 101) return;
    const connection = headers.connection;
    const named = connection
      ? String(connection)
          .toLowerCase()
          .split(',')
          .map((n) => n.trim())
      : [];
    const fields: Record<string, string | string[]> = {};
    for (const name in headers) if (!hopByHop.has(name) && !named.includes(name)) fields[name] = headers[name]!;
    try {
      this.res.writeInformational(status, fields);
    } catch {
      // A field the client's side refuses to write: the interim response is dropped, the final one still comes.
    }
  }

  #writeHead(status: number, headers: HttpHeaders): boolean {
    if (this.env.draining) headers.connection = 'close';
    try {
      this.res.writeHead(status, headers as Record<string, string | string[]>);
    } catch (err) {
      this.#fail(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    this.ctx.status = status;
    return true;
  }

  /** `written`: the chunk is lent (a raw body's, see `rawBody`), given back once sent. */
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer, written?: () => void): void {
    if (this.#head?.replacement) return; // the server's body is read and dropped
    if (this.#headPending) (this.#pending ??= []).push(chunk);
    else if (!this.#write(chunk, written)) {
      controller.pause();
      this.res.once('drain', (this.#resumer ??= () => this.#controller?.resume()));
    }
  }

  #write(chunk: Buffer, written?: () => void): boolean {
    this.ctx.bytesOut += chunk.length;
    const observers = this.#head?.observers;
    if (observers) this.#head!.tell(observers, (o) => o.data(chunk));
    return this.res.write(chunk, written);
  }

  onResponseEnd(_controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.#ended = true;
    // gRPC's status comes in trailers; HTTP/2 and chunked HTTP/1.1 carry them on.
    for (const _ in trailers) {
      this.#trailers = trailers;
      break;
    }
    if (!this.#headPending) this.#end();
  }

  #end(): void {
    const observers = this.#head?.observers;
    if (observers) this.#head!.tell(observers, (o) => o.end());
    this.#done = true;
    if (this.#trailers) {
      try {
        this.res.addTrailers?.(this.#trailers);
      } catch {
        // A trailer no HTTP/1.1 message may carry (from an HTTP/2 server): the answer goes without them.
      }
    }
    this.res.end();
    this.settle('done');
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.#done) return;
    this.#done = true;
    const { ctx, res } = this;
    const observers = this.#head?.observers;
    if (observers) this.#head!.tell(observers, (o) => o.error?.(err));
    // The client's fault (its body broke or was cut, it went away): Proxying ends the request, charged to nobody.
    if (isClientFault(err)) return this.settle(err);
    if (err instanceof PluginError) return this.settle(err);
    const code = (err as { code?: string }).code ?? '';
    const failure = res.headersSent ? undefined : connectFailure(code);
    // Not connected: another server may take it.
    if (failure) return this.settle({ termination: failure, error: `connect: ${code}` });
    // The server's fault: it broke the exchange (closed, reset, garbage) or went silent.
    ctx.error ??= code || err.message;
    const timeout = code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT';
    ctx.termination ||= (timeout ? 's' : 'S') + (ctx.status === 101 ? 'T' : ctx.timings.ttfb >= 0 ? 'D' : 'H');
    if (!res.headersSent && !res.destroyed) sendError(res, ctx, code === 'UND_ERR_HEADERS_TIMEOUT' ? 504 : 502, this.env);
    else res.destroy();
    const hooks = hooksOf(ctx, this.fe);
    if (hooks.requestError.taps.length) runner(hooks.requestError)(ctx, err);
    this.settle('done');
  }
}

export function sendAnswer(res: ClientResponse, ctx: HttpContext, answer: HttpAnswer, env: HttpEnv): void {
  const headers = { ...answer.headers } as Record<string, string | string[]>;
  if (env.draining) headers.connection = 'close';
  const body = answer.body;
  if (typeof body === 'string' || body instanceof Uint8Array) headers['content-length'] = String(Buffer.byteLength(body));
  ctx.status = answer.status;
  res.writeHead(answer.status, headers);
  if (body instanceof Readable) pump(body, res, (n) => (ctx.bytesOut += n));
  else {
    if (body) ctx.bytesOut += Buffer.byteLength(body);
    res.end(ctx.method === 'HEAD' ? undefined : (body ?? undefined));
  }
}

/** Answers with an error of the gateway's own, unless an `errorResponse` tap of the request's route answers instead. */
export function sendError(res: ClientResponse, ctx: HttpContext, status: number, env: HttpEnv): void {
  if (res.headersSent || res.destroyed) return;
  const hook = (ctx.route as RouteRuntime | undefined)?.http.errorResponse;
  if (!hook?.taps.length) return writeError(res, ctx, status, env);
  const answered = (answer: HttpAnswer | void | undefined) => {
    if (res.headersSent || res.destroyed) return;
    if (answer) sendAnswer(res, ctx, answer, env);
    else writeError(res, ctx, status, env);
  };
  let answer;
  try {
    answer = runner(hook)(ctx, status);
  } catch {
    return writeError(res, ctx, status, env);
  }
  if (isThenable(answer)) answer.then(answered, () => writeError(res, ctx, status, env));
  else answered(answer);
}

function writeError(res: ClientResponse, ctx: HttpContext, status: number, env: HttpEnv): void {
  if (res.headersSent || res.destroyed) return;
  if (String(ctx.headers['content-type'] ?? '').startsWith('application/grpc')) return writeGrpcError(res, ctx, status);
  const body = errorBody(status);
  ctx.status = status;
  res.writeHead(status, {
    'content-type': 'text/plain; charset=utf-8',
    'content-length': String(body.length),
    'cache-control': 'no-store',
    ...(env.draining || !res.shouldKeepAlive ? { connection: 'close' } : {}),
  });
  ctx.bytesOut += body.length;
  res.end(ctx.method === 'HEAD' ? undefined : body);
}

/** gRPC status codes for the gateway's own errors (grpc/doc/statuscodes.md, and its HTTP mapping). */
const grpcStatus: Record<number, number> = { 400: 13, 401: 16, 403: 7, 404: 12, 408: 4, 413: 8, 429: 8, 431: 8, 500: 13, 501: 12, 502: 14, 503: 14, 504: 14 };

/**
 * A gRPC client reads a call's outcome from `grpc-status`, not from the HTTP status: the
 * gateway's error becomes a trailers-only answer, HTTP 200 with the status in its head
 * (UNAVAILABLE when no server could take the call). The access log keeps the gateway's
 * own status (503...), as for any other client.
 */
function writeGrpcError(res: ClientResponse, ctx: HttpContext, status: number): void {
  ctx.status = status;
  const message = ctx.error ? `${statusText(status)}: ${ctx.error}` : statusText(status);
  res.writeHead(200, {
    'content-type': 'application/grpc',
    'grpc-status': String(grpcStatus[status] ?? 2),
    'grpc-message': encodeURIComponent(message),
  });
  res.end();
}

function finish(ctx: HttpContext, fe: FrontendRuntime, gen: Generation, env: HttpEnv): void {
  const hooks = hooksOf(ctx, fe);
  if (hooks.responseSent.taps.length) runner(hooks.responseSent)(ctx);
  const log = env.accessLog;
  if (!log) return;
  const entry = {
    gen: gen.id,
    frontend: ctx.frontend,
    route: ctx.route?.name,
    backend: ctx.backend?.name,
    server: ctx.server?.name,
    client: ctx.client.address,
    method: ctx.method,
    path: ctx.path,
    http_version: ctx.httpVersion,
    status: ctx.status,
    bytes_out: ctx.bytesOut,
    // Counted for tunnels (upgrades) so far.
    bytes_in: ctx.bytesIn || undefined,
    ttfb_ms: ctx.timings.ttfb < 0 ? undefined : round(ctx.timings.ttfb),
    total_ms: round(ctx.timings.total),
    queue_ms: ctx.timings.queue > 0 ? round(ctx.timings.queue) : undefined,
    plugins_ms: round(ctx.timings.plugins),
    retries: ctx.retries || undefined,
    termination: httpTermination(ctx),
    error: ctx.error,
  };
  // Plugins' fields after the gateway's own (their names never clash: see setLogField).
  const fields = ctx.logFields;
  log.write(fields === undefined ? entry : Object.assign(entry, fields));
}

const round = (ms: number) => Math.round(ms * 100) / 100;
