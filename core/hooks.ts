// The kernel's hooks: created here once per generation and scope, as the SDK declares
// them (sdk/hooks.ts: what each hook is for and what its taps may do).
import { AsyncSeriesBailHook, AsyncSeriesHook, SyncBailHook, SyncHook } from 'tapable';
import type { AdminRequest } from '../sdk/admin.ts';
import type { HttpAnswer, HttpContext, TcpContext, UpstreamResponse } from '../sdk/context.ts';
import type { AppHooks, ConnectionInfo, ContainedError, EagerBailHook, EagerSeriesHook, HttpHooks, TcpHooks } from '../sdk/hooks.ts';
import type { RouteView } from '../sdk/routes.ts';
import type { BackendView, GenerationInfo, ServerView } from '../sdk/views.ts';

export function createAppHooks(): AppHooks {
  return Object.freeze({
    boot: new AsyncSeriesHook<[GenerationInfo]>(['generation']),
    listening: new SyncHook<[GenerationInfo]>(['generation']),
    ready: new SyncHook<[GenerationInfo]>(['generation']),
    drain: new SyncHook<[GenerationInfo]>(['generation']),
    close: new AsyncSeriesHook<[GenerationInfo]>(['generation']),
    error: new SyncHook<[ContainedError]>(['error']),
    message: new AsyncSeriesBailHook<[string, unknown], unknown>(['topic', 'data']),
    upstreamConnected: new SyncHook<[ServerView, number]>(['server', 'ms']),
    collect: new SyncHook<[]>([]),
    admin: new AsyncSeriesBailHook<[AdminRequest], HttpAnswer | void>(['request']),
  });
}

export function createHttpHooks(): HttpHooks {
  return Object.freeze({
    accept: new SyncBailHook<[ConnectionInfo], false | void>(['connection']),
    received: new AsyncSeriesBailHook<[HttpContext], HttpAnswer | void>(['ctx']) as EagerBailHook<[HttpContext], HttpAnswer | void>,
    route: new SyncBailHook<[HttpContext], RouteView | string | void>(['ctx']),
    request: new AsyncSeriesBailHook<[HttpContext], HttpAnswer | void>(['ctx']) as EagerBailHook<[HttpContext], HttpAnswer | void>,
    pickServer: new SyncBailHook<[HttpContext, BackendView], ServerView | void>(['ctx', 'backend']),
    upstreamRequest: new AsyncSeriesHook<[HttpContext]>(['ctx']) as EagerSeriesHook<[HttpContext]>,
    upstreamResponse: new AsyncSeriesHook<[HttpContext, UpstreamResponse]>(['ctx', 'res']) as EagerSeriesHook<[HttpContext, UpstreamResponse]>,
    errorResponse: new AsyncSeriesBailHook<[HttpContext, number], HttpAnswer | void>(['ctx', 'status']) as EagerBailHook<
      [HttpContext, number],
      HttpAnswer | void
    >,
    responseSent: new SyncHook<[HttpContext]>(['ctx']),
    requestError: new SyncHook<[HttpContext, Error]>(['ctx', 'error']),
  });
}

export function createTcpHooks(): TcpHooks {
  return Object.freeze({
    accept: new SyncBailHook<[TcpContext], false | void>(['ctx']),
    route: new SyncBailHook<[TcpContext], RouteView | string | void>(['ctx']),
    pickServer: new SyncBailHook<[TcpContext, BackendView], ServerView | void>(['ctx', 'backend']),
    connected: new SyncHook<[TcpContext]>(['ctx']),
    closed: new SyncHook<[TcpContext]>(['ctx']),
  });
}

/** Hooks whose taps only observe: a tap that throws is reported and the others still run. */
export const observeOnly: ReadonlySet<string> = new Set([
  'app.listening',
  'app.ready',
  'app.drain',
  'app.error',
  'app.collect',
  'app.upstreamConnected',
  'http.responseSent',
  'http.requestError',
  'tcp.connected',
  'tcp.closed',
]);

export const hookSetFactories = { app: createAppHooks, http: createHttpHooks, tcp: createTcpHooks } as const;
