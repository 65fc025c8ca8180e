// Smooth weighted round robin, as nginx does it: every pick adds each usable server's
// weight to its running score, takes the highest, and takes the total back from it.
// Over one cycle of sum(weights) picks each server gets exactly its weight, spread out
// rather than in bursts (weights 5,1,1 give a a b a c a a, not a a a a a b c).
// Backup servers are used only when no other server is usable.
import { definePlugin, type Balancer, type BalancerInit, type ServerView } from '../../sdk/index.ts';

export function roundRobin({ servers }: BalancerInit): Balancer {
  const score = new Map<ServerView, number>(servers.map((s) => [s, 0]));
  const primaries = servers.filter((s) => !s.backup);
  const backups = servers.filter((s) => s.backup);

  const pickFrom = (group: readonly ServerView[]): ServerView | undefined => {
    let best: ServerView | undefined;
    let bestScore = -Infinity;
    let total = 0;
    for (const s of group) {
      if (!s.usable) continue;
      const current = score.get(s)! + s.weight;
      score.set(s, current);
      total += s.weight;
      if (current > bestScore) {
        best = s;
        bestScore = current;
      }
    }
    if (best) score.set(best, bestScore - total);
    return best;
  };

  return {
    pick: () => pickFrom(primaries) ?? pickFrom(backups),
    // A server coming back starts from zero, so it does not take a burst to catch up.
    onServerState: (server) => void score.set(server, 0),
  };
}

export default definePlugin({
  name: 'lb-roundrobin',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Smooth weighted round robin (balance: roundrobin).',
  autoload: true,
  setup(api) {
    api.registerBalancer('roundrobin', roundRobin);
  },
});
