// Whether each server of a backend is up. Two sources decide, each owning one flag:
// active checks (a probe every `interval` on its own short connection; `fall` failures
// in a row take the server out, `rise` passes in a row bring it back) and passive
// outlier detection (`consecutive_errors` failed requests in a row eject it for
// `eject_for`). A server is up when its checks pass and it is not ejected; neither
// source overrides the other. Only a serving generation runs them (`start`), and
// `stop` leaves no timer or socket behind. An HTTP check is sent with the code traffic
// uses (the server's pool kind: HTTP/1.1, or HTTP/2 for `protocol: h2`; its TLS), on
// a pool of its own made for the one check, so it always opens a connection.
import { performance } from 'node:perf_hooks';
import { EventEmitter } from 'node:events';
import net from 'node:net';
import type { Logger } from 'pino';
import type { BackendConfig } from '../../sdk/config.ts';
import type { ServerHealth } from '../../sdk/views.ts';
import { formatAddress, type BindAddress } from '../../sdk/units.ts';
import type { Backend, Outcome, UpstreamServer } from './backend.ts';
import { bufferedRequest, endingOf } from './buffered.ts';
import { H1Pool, type UpstreamPool } from './h1-pool.ts';
import { H2Pool } from './h2-pool.ts';

type ActiveConfig = NonNullable<BackendConfig['health']>;
type PassiveConfig = Exclude<BackendConfig['passive'], false>;

/** The record behind a server's `health`, as this module writes it. */
type HealthRecord = { -readonly [K in keyof ServerHealth]: ServerHealth[K] };

export function newServerHealth(): ServerHealth {
  return {
    checked: false,
    passing: true,
    checks: 0,
    failedChecks: 0,
    streak: 0,
    lastResult: undefined,
    lastDuration: undefined,
    lastError: undefined,
    lastCheckAt: undefined,
    lastChange: undefined,
    consecutiveErrors: 0,
    ejections: 0,
    ejectedUntil: undefined,
    downtime: 0,
    downSince: undefined,
  };
}

/** A server taken out (`up: false`) or brought back by health checking. */
export interface HealthChange {
  server: UpstreamServer;
  up: boolean;
  reason: string;
}

/** One active check's result. */
export interface CheckResult {
  server: UpstreamServer;
  passed: boolean;
  /** ms */
  duration: number;
  error?: string;
}

/** Largest part of a body read to match `expect_body`. */
const maxBodyRead = 64 * 1024;

/** A backend's health checking. Events: `change` (a server went down or up) and `check` (an active check ended). */
export class BackendHealth extends EventEmitter<{ change: [HealthChange]; check: [CheckResult] }> {
  readonly active: ActiveConfig | undefined;
  readonly passive: PassiveConfig | undefined;
  #state: 'idle' | 'running' | 'stopped' = 'idle';
  #log: Logger | undefined;
  readonly #abort = new AbortController();
  /** Each server's next check. */
  readonly #checkTimers = new Map<UpstreamServer, NodeJS.Timeout>();
  /** The end of each ejected server's ejection. */
  readonly #ejectTimers = new Map<UpstreamServer, NodeJS.Timeout>();
  readonly #probe: ((server: UpstreamServer, signal: AbortSignal) => Promise<string | undefined>) | undefined;

  constructor(
    private readonly backend: Backend,
    config: BackendConfig,
  ) {
    super();
    this.active = config.health;
    this.passive = config.passive === false ? undefined : config.passive;
    if (this.active) {
      const active = this.active;
      backend.servers.forEach((s, i) => ((s.health as HealthRecord).checked = config.servers[i]!.check));
      this.#probe = active.type === 'http' ? httpProbe(active) : (server, signal) => tcpProbe(server, active.timeout, signal);
    }
  }

  /** Starts the active checks, each server's first at a random point of the first interval, and outlier detection. */
  start(log: Logger): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#log = log;
    if (!this.active) return;
    for (const s of this.backend.servers) if (s.health.checked) this.#schedule(s, Math.random() * this.active.interval);
  }

  /** Stops every check (in flight too) and ejection timer; for good. */
  stop(): void {
    this.#state = 'stopped';
    this.#abort.abort();
    for (const t of [...this.#checkTimers.values(), ...this.#ejectTimers.values()]) clearTimeout(t);
    this.#checkTimers.clear();
    this.#ejectTimers.clear();
  }

  /** What one request on `server` came to (passive checks). */
  report(server: UpstreamServer, outcome: Outcome): void {
    if (!this.passive || this.#state !== 'running') return;
    const h = server.health as HealthRecord;
    if (outcome === 'ok') {
      h.consecutiveErrors = 0;
      return;
    }
    // Requests in flight when the server was taken out still finish here.
    if (h.ejectedUntil !== undefined || !server.up) return;
    const { consecutive_errors, eject_for } = this.passive;
    if (++h.consecutiveErrors < consecutive_errors) return;
    // Ejecting the last server would turn its answers into 503s: keep it.
    if (!this.backend.servers.some((s) => s !== server && s.up && s.state === 'ready')) return;
    const errors = h.consecutiveErrors;
    h.ejections++;
    h.ejectedUntil = Date.now() + eject_for;
    const retry = () => {
      this.#ejectTimers.delete(server);
      h.ejectedUntil = undefined;
      h.consecutiveErrors = 0;
      this.#apply(server, `ejection over after ${eject_for}ms`);
    };
    this.#ejectTimers.set(server, unref(setTimeout(retry, eject_for)));
    this.#apply(server, `ejected after ${errors} failed requests in a row (last: ${outcome})`);
  }

  #schedule(server: UpstreamServer, delay: number): void {
    this.#checkTimers.set(server, unref(setTimeout(() => void this.#check(server), delay)));
  }

  async #check(server: UpstreamServer): Promise<void> {
    const started = performance.now();
    const error = await this.#probe!(server, this.#abort.signal).catch((err: Error) => reasonOf(err));
    if (this.#state !== 'running') return;
    this.#record(server, error, performance.now() - started);
    this.#schedule(server, this.active!.interval);
  }

  #record(server: UpstreamServer, error: string | undefined, duration: number): void {
    const { rise, fall } = this.active!;
    const h = server.health as HealthRecord;
    const result = error === undefined ? 'passed' : 'failed';
    h.checks++;
    if (error !== undefined) h.failedChecks++;
    h.streak = h.lastResult === result ? h.streak + 1 : 1;
    h.lastResult = result;
    h.lastDuration = Math.round(duration * 100) / 100;
    h.lastError = error;
    h.lastCheckAt = Date.now();
    this.emit('check', { server, passed: error === undefined, duration: h.lastDuration, ...(error !== undefined ? { error } : {}) });
    // Until its first passing check, one failure takes a server out (HAProxy's init-state up).
    const proven = h.checks > h.failedChecks;
    if (h.passing && error !== undefined && h.streak >= (proven ? fall : 1)) {
      h.passing = false;
      this.#apply(server, `${h.streak} failed check${h.streak === 1 ? '' : 's'} in a row: ${error}`);
    } else if (!h.passing && error === undefined && h.streak >= rise) {
      h.passing = true;
      this.#apply(server, `${h.streak} passed check${h.streak === 1 ? '' : 's'} in a row`);
    }
  }

  /** Sets `up` from both sources, when that changes it. */
  #apply(server: UpstreamServer, reason: string): void {
    const h = server.health as HealthRecord;
    const up = h.passing && h.ejectedUntil === undefined;
    if (up === server.up) return;
    this.backend.setServerState(server, { up });
    h.lastChange = Date.now();
    if (!up) h.downSince = h.lastChange;
    else if (h.downSince !== undefined) {
      h.downtime += h.lastChange - h.downSince;
      h.downSince = undefined;
    }
    if (up) this.#log?.info({ server: server.id, reason }, 'server is up');
    else this.#log?.warn({ server: server.id, reason }, 'server is down');
    this.emit('change', { server, up, reason });
  }
}

/** Passes when a connection opens within `timeout`. */
function tcpProbe(server: UpstreamServer, timeout: number, signal: AbortSignal): Promise<string | undefined> {
  return new Promise((resolve) => {
    // Our own abort listener, removed at the end: net.connect's `signal` option leaves one per probe on the shared signal.
    const socket = net.connect(target(server));
    const onAbort = () => finish('checks stopped');
    signal.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(() => finish(`no connection within ${timeout}ms`), timeout);
    function finish(error?: string) {
      clearTimeout(timer);
      signal.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(error);
    }
    socket.once('connect', () => finish());
    socket.once('error', (err) => finish(reasonOf(err)));
  });
}

/** Passes when a request on its own connection (TLS for an `ssl` server, HTTP/2 for an h2 one) gets an expected status (and body) within `timeout`. */
function httpProbe(c: ActiveConfig): (server: UpstreamServer, signal: AbortSignal) => Promise<string | undefined> {
  const spec = c.http!;
  const statuses = spec.expect_status.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}-${hi}`)).join(',');
  const body = spec.expect_body === undefined ? undefined : bodyMatcher(spec.expect_body);
  // The check's own timer decides (one reason, whatever the phase); the pool's, later, only back it up.
  const backstop = c.timeout + 1000;
  const timeouts = { connect: backstop, server: backstop, server_body: backstop, server_keepalive: backstop };
  return async (server, signal) => {
    const address = target(server);
    const pool: UpstreamPool = server.http2 ? new H2Pool({ address, tls: server.tls, timeouts }) : new H1Pool(address, timeouts, server.tls, undefined);
    const ended = new AbortController();
    const timer = setTimeout(() => ended.abort(new Error(`no answer within ${c.timeout}ms`)), c.timeout);
    const onStop = () => ended.abort(new Error('checks stopped'));
    signal.addEventListener('abort', onStop, { once: true });
    const headers = { host: spec.host ?? formatAddress(server.address), 'user-agent': 'tapgate-health-check', connection: 'close' };
    try {
      // Without expect_body the status decides: the body is not waited for.
      const answer = await bufferedRequest(
        pool,
        { method: spec.method, path: spec.path, headers },
        { maxBody: body ? maxBodyRead : 0, overflow: 'truncate', ending: endingOf(ended.signal) },
      );
      const status = answer.status;
      if (!spec.expect_status.some(([lo, hi]) => status >= lo && status <= hi)) return `status ${status}, expected ${statuses}`;
      if (body && !body.test(answer.body.toString('utf8'))) return `body does not ${body.describe}`;
      return undefined;
    } catch (err) {
      return reasonOf(err as Error);
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', onStop);
      pool.destroy();
    }
  };
}

/** `/regex/flags`, or text the body must contain. */
function bodyMatcher(pattern: string): { test: (text: string) => boolean; describe: string } {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (m) {
    const re = new RegExp(m[1]!, m[2]);
    return { test: (t) => re.test(t), describe: `match ${pattern}` };
  }
  return { test: (t) => t.includes(pattern), describe: `contain ${JSON.stringify(pattern)}` };
}

/** Where to connect: a server bound to every address is checked on loopback. */
function target(server: UpstreamServer): BindAddress {
  const host = server.address.host === '0.0.0.0' ? '127.0.0.1' : server.address.host === '::' ? '::1' : server.address.host;
  return { host, port: server.address.port };
}

function reasonOf(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

function unref(t: NodeJS.Timeout): NodeJS.Timeout {
  t.unref();
  return t;
}
