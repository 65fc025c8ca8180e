// balance: leastconn — the server with the fewest requests (http) or connections (tcp)
// in flight relative to its weight. Loads are compared as active_a × weight_b against
// active_b × weight_a: exact, without division. Servers tied for least loaded (all of
// them, when traffic is light) take turns by smooth weighted round robin, as nginx's
// least_conn does, so weights hold even when nothing is ever in flight at pick time.
//
// A pick reads every eligible server (HAProxy keeps a tree instead, which needs to hear
// of every change in load; the kernel only reports releases). The round-robin scores sit
// in an array, with an index per eligible list built when the list changes.
import { defineBalancer, definePlugin, type Balancer, type BalancerInit, type ServerView } from '../../sdk/index.ts';

function leastLoaded({ servers }: BalancerInit): Balancer {
  const indexOf = new Map<ServerView, number>(servers.map((s, i) => [s, i]));
  let score = new Float64Array(servers.length);
  /** For eligible[k], its index in `score`; built when the eligible list changes. */
  let slots = new Uint32Array(0);
  let current: readonly ServerView[] | undefined;

  const follow = (eligible: readonly ServerView[]) => {
    slots = Uint32Array.from(eligible, (s) => {
      let i = indexOf.get(s);
      if (i === undefined) {
        indexOf.set(s, (i = indexOf.size));
        if (i >= score.length) score = Float64Array.from({ length: 2 * i + 1 }, (_, j) => score[j] ?? 0);
      }
      return i;
    });
    current = eligible;
  };

  return {
    pick(_ctx, eligible) {
      let best = 0;
      let bestActive = eligible[0]!.active;
      let bestWeight = eligible[0]!.weight;
      let ties = 1;
      for (let k = 1; k < eligible.length; k++) {
        const s = eligible[k]!;
        const order = s.active * bestWeight - bestActive * s.weight;
        if (order < 0) {
          best = k;
          bestActive = s.active;
          bestWeight = s.weight;
          ties = 1;
        } else if (order === 0) ties++;
      }
      if (ties === 1) return eligible[best];

      // Smooth weighted round robin among the tied: each adds its weight to its score,
      // the highest goes and gives back the total.
      if (eligible !== current) follow(eligible);
      let chosen = best;
      let chosenScore = -Infinity;
      let total = 0;
      for (let k = best; k < eligible.length; k++) {
        const s = eligible[k]!;
        const weight = s.weight;
        if (s.active * bestWeight !== bestActive * weight) continue;
        const mine = (score[slots[k]!]! += weight);
        total += weight;
        if (mine > chosenScore) {
          chosen = k;
          chosenScore = mine;
        }
      }
      score[slots[chosen]!]! -= total;
      return eligible[chosen];
    },
    // A server coming back starts its turns from zero rather than with a burst.
    onServerState(server) {
      const i = indexOf.get(server);
      if (i !== undefined) score[i] = 0;
    },
  };
}

export const leastConnections = defineBalancer({
  name: 'leastconn',
  description: 'Fewest in flight relative to weight; ties by smooth weighted round robin.',
  create: (_options, init) => leastLoaded(init),
});

export default definePlugin({
  name: 'lb-leastconn',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Fewest in flight relative to weight, ties by round robin (balance: leastconn).',
  autoload: true,
  extensions: [leastConnections],
});
