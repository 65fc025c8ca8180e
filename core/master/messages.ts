// Messages between the master and its workers (cluster IPC), and on the control socket.
import type { Problem } from '../config/problems.ts';
import type { MetricSample } from '../../sdk/metrics.ts';
import type { ServerChange, WorkerDeaths } from '../../sdk/admin.ts';
import type { TakeOptions } from '../../sdk/index.ts';
import type { Returned } from './leases.ts';

export type ToWorker =
  | { type: 'drain'; hardAfter: number }
  | { type: 'kill' }
  /**
   * A reload in place, in two phases: build `generation` beside the serving one, loading
   * what the master compiled for it (`compiled`) and reading the config text it checked
   * (`config`, a copy of the file; absent: the file itself), and say `prepared`; then
   * `commit` (serve it, say `committed`) or `abort` (dispose of it).
   */
  | { type: 'prepare'; generation: number; compiled: { TAPGATE_COMPILED?: string }; config?: string }
  | { type: 'commit'; generation: number }
  | { type: 'abort'; generation: number }
  /** Send your metrics (`collected`). */
  | { type: 'collect'; id: number }
  /** Apply a run-time server change (`changed`). */
  | { type: 'set-server'; id: number; change: ServerChange }
  /** A plugin's broadcast, for this worker's `app.message` taps (`delivered`). */
  | { type: 'deliver'; id: number; topic: string; data: unknown }
  /** The answer to a worker's `admin` question. */
  | { type: 'admin-reply'; id: number; result: unknown }
  /** Hand back the units leased for `key` that you have not spent (`returned`): another worker's take needs them. */
  | { type: 'recall'; id: number; key: string };

/** What a worker's stats listener asks the master, which sees every worker. */
export type AdminQuestion =
  | { op: 'metrics' }
  | { op: 'status' }
  | { op: 'reload' }
  | { op: 'setServer'; change: ServerChange }
  | { op: 'broadcast'; topic: string; data: unknown }
  /** `api.take`: the answer is a Grant (core/rate-windows.ts), with units leased to spend without asking. */
  | { op: 'take'; key: string; options: TakeOptions; returned?: Returned };

export type FromWorker =
  /** Serving: each frontend's ports, in `bind` order (port 0 binds say which port they got), and the stats listener's. */
  | { type: 'ready'; generation: number; ports: Record<string, number[]>; statsPort: number | undefined }
  /** The worker has stopped accepting connections and is finishing what it has. */
  | { type: 'draining'; generation: number }
  | { type: 'failed'; generation: number; problems: Problem[] }
  /** The answer to `prepare`: built and waiting for `commit`, or why not. */
  | { type: 'prepared'; generation: number; ok: boolean; problems: Problem[] }
  /** The answer to `commit`: serving it (with its ports, as in `ready`), or still serving the one before. */
  | { type: 'committed'; generation: number; ok: true; ports: Record<string, number[]>; statsPort: number | undefined }
  | { type: 'committed'; generation: number; ok: false; error: string }
  | { type: 'collected'; id: number; metrics: MetricSample[] }
  | { type: 'changed'; id: number; result: { ok: true } | { ok: false; error: string } }
  | { type: 'delivered'; id: number; result: unknown }
  | { type: 'returned'; id: number; returned: Returned | undefined }
  | ({ type: 'admin'; id: number } & AdminQuestion)
  /** The worker is done: its counters and histograms, for the totals kept across reloads, and the leased units it did not spend. */
  | { type: 'final'; metrics: MetricSample[]; unspent: Returned[] };

export type ControlRequest = { cmd: 'reload'; plan?: boolean } | { cmd: 'stop'; hard?: boolean } | { cmd: 'status' };

export interface WorkerStatus {
  pid: number;
  generation: number;
  state: 'starting' | 'ready' | 'draining';
  since: string;
}

export interface StatusReply {
  ok: true;
  pid: number;
  generation: number;
  config: string;
  uptime_s: number;
  workers: WorkerStatus[];
  worker_deaths: WorkerDeaths;
}

export interface ReloadReply {
  ok: boolean;
  generation?: number;
  draining?: number;
  plan?: string[];
  /** How the workers take (or would take) the new generation: reloading in place, or replaced by new processes (and why). */
  workers?: { inPlace: true } | { inPlace: false; why: string };
  problems?: Problem[];
  error?: string;
}
