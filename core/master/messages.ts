// Messages between the master and its workers (cluster IPC), and on the control socket.
import type { Problem } from '../config/problems.ts';

export type ToWorker =
  | { type: 'drain'; hardAfter: number }
  | { type: 'kill' };

export type FromWorker =
  | { type: 'ready'; generation: number }
  /** The worker has stopped accepting connections and is finishing what it has. */
  | { type: 'draining'; generation: number }
  | { type: 'failed'; generation: number; problems: Problem[] };

export type ControlRequest =
  | { cmd: 'reload'; plan?: boolean }
  | { cmd: 'stop'; hard?: boolean }
  | { cmd: 'status' };

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
}

export interface ReloadReply {
  ok: boolean;
  generation?: number;
  draining?: number;
  plan?: string[];
  problems?: Problem[];
  error?: string;
}
