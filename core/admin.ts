// The stats listener's requests as plugins see them (the `app.admin` hook), and what
// the process behind it can do: merge every worker's metrics, say who serves, change a
// server at run time, reload. A worker under a master asks the master; a single
// process answers itself.
import type { HttpHeaders } from './http/context.ts';
import type { MetricSample } from './metrics.ts';
import type { ServerState } from './types.ts';

export interface WorkerInfo {
  pid: number;
  generation: number;
  state: 'starting' | 'ready' | 'draining';
  since: string;
}

export interface GatewayStatus {
  /** The master's pid (or the single process's). */
  pid: number;
  /** The generation serving new connections. */
  generation: number;
  config: string;
  uptime_s: number;
  workers: WorkerInfo[];
  worker_deaths: WorkerDeaths;
}

/** Workers that exited without being told to (crashed, killed), since the master started; none in a single process. */
export interface WorkerDeaths {
  total: number;
  /** The latest: `reason` is the signal (`SIGKILL`) or `exit <code>`; `state`, whether it had started serving. */
  last: { pid: number; generation: number; reason: string; state: 'starting' | 'ready'; at: string } | null;
}

/** A run-time change to one server, applied in every worker (HAProxy's `set server`). */
export interface ServerChange {
  backend: string;
  server: string;
  state?: ServerState;
  weight?: number;
}

export interface AdminEnv {
  /** Every worker's metrics merged, plus the totals of workers gone in reloads. */
  metrics(): Promise<MetricSample[]>;
  status(): Promise<GatewayStatus>;
  /** Applies `change` in every worker of the serving generation; the error says why not. */
  setServer(change: ServerChange): Promise<{ ok: true } | { ok: false; error: string }>;
  reload(): Promise<{ ok: boolean; generation?: number; error?: string; problems?: unknown[] }>;
}

/** A request to the stats listener that the kernel's own `/api/` did not answer. */
export interface AdminRequest {
  readonly method: string;
  /** Path without the query. */
  readonly path: string;
  readonly query: URLSearchParams;
  readonly headers: HttpHeaders;
  /** The request body (at most 64 KiB). */
  readonly body: Buffer;
  /** Changes are allowed (`stats.admin`, default true): a plugin's writes (a purge) honour it as `/api/` does. */
  readonly writable: boolean;
  /** Every worker's metrics merged, totals kept across reloads. */
  metrics(): Promise<MetricSample[]>;
  /** Generation and workers. */
  status(): Promise<GatewayStatus>;
}
