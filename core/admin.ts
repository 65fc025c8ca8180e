// What the process behind the stats listener can do: merge every worker's metrics, say
// who serves, change a server at run time, reload. A worker under a master asks the
// master; a single process answers itself. The shapes it answers with are the SDK's
// (sdk/admin.ts).
import type { GatewayStatus, ServerChange } from '../sdk/admin.ts';
import type { MetricSample } from '../sdk/metrics.ts';

export interface AdminEnv {
  /** Every worker's metrics merged, plus the totals of workers gone in reloads. */
  metrics(): Promise<MetricSample[]>;
  status(): Promise<GatewayStatus>;
  /** Applies `change` in every worker of the serving generation; the error says why not. */
  setServer(change: ServerChange): Promise<{ ok: true } | { ok: false; error: string }>;
  reload(): Promise<{ ok: boolean; generation?: number; error?: string; problems?: unknown[] }>;
}
