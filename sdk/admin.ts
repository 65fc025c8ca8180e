// What the stats listener and the master tell plugins and operators: the status of the
// master and its workers, a run-time change to a server, and a request to the stats
// listener as the `app.admin` hook gives it.
import type { HttpHeaders } from './context.ts';
import type { MetricSample } from './metrics.ts';
import type { ServerState } from './views.ts';

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
