// Placing a request (HTTP) or a session (TCP) on a server, written once for both
// lifecycles and for plugins' subrequests to a backend (core/upstream/subrequest.ts): the
// server a `pickServer` tap or the backend's algorithm picks, a wait in the backend's
// queue while every server is at its maxconn, and, when a connection failed before its
// server saw anything, another server (`retries`, redispatch). What a try's end says
// about its server goes to the server's health only when the end is charged to it
// (sdk/termination.ts `chargedTo`): a fault of the client's, a plugin's or the gateway's
// own says nothing about the server.
import { performance } from 'node:perf_hooks';
import type { SyncBailHook } from 'tapable';
import type { HttpContext } from '../http/context.ts';
import type { TcpContext } from '../tcp/context.ts';
import type { Generation } from '../generation.ts';
import type { BackendView, PickContext, ServerView } from '../../sdk/views.ts';
import { chargedTo } from '../../sdk/termination.ts';
import { runner } from '../taps.ts';
import type { Backend, UpstreamServer } from './backend.ts';

/** Errors that happen before a server has seen the request: safe to try another server. */
export const connectErrors: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EADDRNOTAVAIL',
  'EMFILE',
  'ENFILE',
  'ENOBUFS',
  'UND_ERR_CONNECT_TIMEOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** Of those, the gateway's own shortage (no local port, no file descriptor): no server is to blame. */
const localErrors: ReadonlySet<string> = new Set(['EADDRNOTAVAIL', 'EMFILE', 'ENFILE', 'ENOBUFS']);

/** How a connection that failed before its server saw anything ends a try. */
export type ConnectFailure = 'SC' | 'sC' | 'RC';

/** An upstream pool's error `code` as a failed connection (refused, timed out, or the gateway's own shortage), or undefined for any other error. */
export function connectFailure(code: string): ConnectFailure | undefined {
  if (!connectErrors.has(code)) return undefined;
  return localErrors.has(code) ? 'RC' : code === 'UND_ERR_CONNECT_TIMEOUT' ? 'sC' : 'SC';
}

/** The `pickServer` hook of the request's chain (HTTP or TCP). */
export type PickServerHook = SyncBailHook<[PickContext, BackendView], ServerView | void>;

/**
 * One request's or session's way to a server, and to the next one after a failed
 * connection. A lifecycle extends it with how a try is made (`attempt`), how the request
 * ends when no server takes it (`unplaced`) or a step throws (`fail`), and when it is
 * over; it calls `dispatch` once routed, and `release`, `charge` and `redispatch` as
 * its tries end. Each step runs in the turn of the one before: a promise only for a wait
 * in the queue.
 */
export abstract class Dispatch<C extends HttpContext | TcpContext> {
  #backend: Backend | undefined = undefined;
  /** The chain's `pickServer` hook; none for a plugin's own subrequest. */
  #pickServer: PickServerHook | undefined = undefined;
  /** Servers whose connection failed before they saw the request (not tried again). */
  #tried: Set<UpstreamServer> | undefined = undefined;
  #attempt = 0;
  /** A slot came from the backend's queue: this request goes ahead of newcomers. */
  #waited = false;
  /** Waiting in the backend's queue now. */
  protected queued = false;

  constructor(
    readonly ctx: C,
    readonly gen: Generation,
  ) {}

  /** Starts a try on `server`: acquired already, and `ctx.server`. */
  protected abstract attempt(server: UpstreamServer): void;
  /**
   * No server takes the request: none is available (`RC`), no slot freed in time (`sQ`),
   * or the connection to `failed`, the last server tried, failed (`SC`, `sC`, `RC`);
   * `error` says why.
   */
  protected abstract unplaced(termination: string, error: string, failed?: UpstreamServer): void;
  /** Ends the request for what a step threw (a `pickServer` tap's PluginError, the kernel's own error). */
  protected abstract fail(err: unknown): void;
  /** True once the request has ended (failed, its client gone): a slot that comes is passed on, no other server is tried. */
  protected abstract get over(): boolean;

  /** False once the request can no longer be sent again (HTTP: its body read, its answer begun). */
  protected get retryable(): boolean {
    return true;
  }

  /** Places the request on `backend`: on a server now, after a wait in its queue, or nowhere (`unplaced`). */
  protected dispatch(backend: Backend, pickServer: PickServerHook | undefined): void {
    this.#backend = backend;
    this.#pickServer = pickServer;
    this.#place();
  }

  #place(): void {
    try {
      const backend = this.#backend!;
      // While others wait in the queue, a newcomer waits behind them.
      const server = backend.queued > 0 && !this.#waited ? undefined : this.#pick(backend);
      if (server) {
        this.ctx.server = server;
        server.acquire();
        return this.attempt(server);
      }
      // Every server at its maxconn: wait in the backend's queue, in order, for a slot.
      if (!backend.saturated && backend.queued === 0) return this.unplaced('RC', 'no server available');
      this.queued = true;
      const queuedAt = performance.now();
      void backend.waitForSlot(this.#waited).then((slot) => this.#slot(slot, queuedAt));
    } catch (err) {
      this.fail(err);
    }
  }

  /** The server for this try: a `pickServer` tap's, or the algorithm's; on a retry, one not tried yet. */
  #pick(backend: Backend): UpstreamServer | undefined {
    const ctx = this.ctx;
    const hook = this.#pickServer;
    const picked = (hook?.taps.length ? runner(hook)(ctx, backend) : undefined) ?? backend.pick(ctx);
    return backend.untried(ctx, picked as UpstreamServer | undefined, this.#tried);
  }

  /** The wait in the queue is over: a slot (`slot`), or `timeouts.queue` passed. */
  #slot(slot: boolean, queuedAt: number): void {
    this.queued = false;
    const ms = performance.now() - queuedAt;
    if (this.ctx.kind === 'http') this.ctx.timings.queue += ms;
    else this.ctx.queueTime += ms;
    if (this.over) {
      // The client left while waiting: the slot goes to the next in line.
      if (slot) this.#backend!.passSlot();
      return;
    }
    if (slot) {
      this.#waited = true;
      return this.#place();
    }
    try {
      this.unplaced('sQ', 'queue timeout');
    } catch (err) {
      this.fail(err);
    }
  }

  /** A try on `server` is over: its slot goes back, and the algorithm is told (`release`). */
  protected release(server: UpstreamServer): void {
    server.release();
    try {
      this.#backend!.balancer.release?.(server, this.ctx);
    } catch (error) {
      // An algorithm's (a plugin's) failure, on a try's way out: reported; the request is not its to fail.
      this.gen.report({ hook: `${this.ctx.kind} balancer.release`, frontend: this.ctx.frontend, error });
    }
  }

  /**
   * Tells `server`'s health what a try's end says about it: an end charged to it
   * (`termination`, see `chargedTo`) is its error; a clean end (`''`) is fine, or a
   * server error when it answered 5xx itself (`answered5xx`); any other end says nothing.
   */
  protected charge(server: UpstreamServer, termination: string, answered5xx = false): void {
    const charged = chargedTo(termination);
    if (charged) this.#backend!.reportOutcome(server, charged === 'connect' ? 'connect-error' : 'server-error');
    else if (termination === '') this.#backend!.reportOutcome(server, answered5xx ? 'server-error' : 'ok');
  }

  /**
   * The try on `server` could not connect (`termination` and `error` say why; released
   * and charged already): another server takes the request while `retries` allow and
   * the request can be sent again; otherwise it ends (`unplaced`).
   */
  protected redispatch(server: UpstreamServer, termination: string, error: string): void {
    if (this.over || this.#attempt >= this.#backend!.retries || !this.retryable) return this.unplaced(termination, error, server);
    // This try is told apart from the request's own end: charged to its server, the request goes on clean.
    const ctx = this.ctx;
    ctx.failedTries = [...ctx.failedTries, { server, termination, error }];
    (this.#tried ??= new Set()).add(server);
    ctx.retries++;
    this.#attempt++;
    this.#place();
  }
}
