// Smooth weighted round robin, as nginx does it: every pick adds each eligible server's
// weight to its running score, takes the highest, and takes the total back from it.
// Over one cycle of sum(weights) picks each server gets exactly its weight, spread out
// rather than in bursts (weights 5,1,1 give a a b a c a a, not a a a a a b c).
import { defineBalancer, definePlugin, type Balancer, type BalancerInit, type ServerView } from '../../sdk/index.ts';

/** Also the hash algorithms' way to place requests without a key. */
export function smoothRoundRobin({ servers }: BalancerInit): Balancer {
  const score = new Map<ServerView, number>(servers.map((s) => [s, 0]));
  return {
    pick(_ctx, eligible) {
      let best = eligible[0]!;
      let bestScore = -Infinity;
      let total = 0;
      for (const s of eligible) {
        const current = score.get(s)! + s.weight;
        score.set(s, current);
        total += s.weight;
        if (current > bestScore) {
          best = s;
          bestScore = current;
        }
      }
      score.set(best, bestScore - total);
      return best;
    },
    // A server coming back starts from zero, so it does not take a burst to catch up.
    onServerState: (server) => void score.set(server, 0),
  };
}

export const roundRobin = defineBalancer({
  name: 'roundrobin',
  description: 'Smooth weighted round robin, exact weights over every cycle.',
  create: (_options, init) => smoothRoundRobin(init),
});

export default definePlugin({
  name: 'lb-roundrobin',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Smooth weighted round robin (balance: roundrobin).',
  autoload: true,
  extensions: [roundRobin],
});
