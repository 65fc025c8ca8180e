// A server's status as HAProxy's stats page names it, from its live view.
import type { ServerView } from '../../sdk/index.ts';
import type { ServerStatus } from './metrics.ts';

/**
 * MAINT (set by config or the admin API) before DOWN (health checks or ejection) before
 * DRAIN (finishing its sessions, no new ones) before NOLB (weight 0) before UP.
 */
export function serverStatus(s: ServerView): ServerStatus {
  if (s.state === 'maint') return 'MAINT';
  if (!s.up) return 'DOWN';
  if (s.state === 'drain') return 'DRAIN';
  if (s.weight === 0) return 'NOLB';
  return 'UP';
}

/** ms the server has been down by health in this generation, the current period included. */
export function downtimeMs(s: ServerView, now: number): number {
  const h = s.health;
  return h.downtime + (h.downSince !== undefined ? Math.max(0, now - h.downSince) : 0);
}
