// balance: random — the power of two choices (Mitzenmacher): draw two different servers at
// random, with probability proportional to weight, and send the request to the one with
// fewer in flight relative to its weight. As cheap as a random pick, and it almost never
// lands on a busy server: the most loaded one can only win against an equally loaded one.
// `balance_options: { choices: N }` draws N instead (1 is plain weighted random).
//
// Weights are read at each draw (they ramp up during slowstart) by rejection sampling:
// a uniformly drawn server is kept with probability weight / heaviest weight, so a draw
// costs O(1) when weights are close; when they are far apart and the draws keep missing,
// one exact pass over the servers decides.
import { definePlugin, type Balancer, type BalancerInit, type ServerView } from '../../sdk/index.ts';

export function powerOfChoices(init: BalancerInit): Balancer {
  const choices = readChoices(init.options);
  const random = init.random;
  // Configured weights bound the live ones (slowstart only lowers them).
  let heaviest = init.servers.reduce((max, s) => Math.max(max, s.weight), 1);
  /** The servers drawn for the current pick: the first `taken` of them. */
  const drawn: ServerView[] = [];
  let taken = 0;
  const isDrawn = (s: ServerView) => {
    for (let j = 0; j < taken; j++) if (drawn[j] === s) return true;
    return false;
  };

  const draw = (eligible: readonly ServerView[]): ServerView => {
    for (let attempt = 0; attempt < 16; attempt++) {
      // One number does both: its whole part picks the server, its fraction decides.
      const u = random() * eligible.length;
      const i = Math.floor(u);
      const s = eligible[i]!;
      if (isDrawn(s)) continue;
      const weight = s.weight;
      if (weight > heaviest) heaviest = weight;
      if ((u - i) * heaviest < weight) return s;
    }
    let total = 0;
    for (const s of eligible) if (!isDrawn(s)) total += s.weight;
    let r = random() * total;
    let last = eligible[0]!;
    for (const s of eligible) {
      if (isDrawn(s)) continue;
      last = s;
      if ((r -= s.weight) < 0) break;
    }
    return last;
  };

  return {
    pick(_ctx, eligible) {
      if (eligible.length === 1) return eligible[0];
      const n = Math.min(choices, eligible.length);
      taken = 0;
      let best = draw(eligible);
      drawn[taken++] = best;
      for (let c = 1; c < n; c++) {
        const s = draw(eligible);
        drawn[taken++] = s;
        // Fewer in flight per unit of weight wins; on a tie, the first drawn.
        if (s.active * best.weight < best.active * s.weight) best = s;
      }
      return best;
    },
  };
}

function readChoices(options: Readonly<Record<string, unknown>>): number {
  for (const key of Object.keys(options)) {
    if (key !== 'choices') throw new Error(`unknown option "${key}" (random takes only choices)`);
  }
  const choices = options.choices ?? 2;
  if (typeof choices !== 'number' || !Number.isInteger(choices) || choices < 1) {
    throw new Error(`choices must be a whole number of at least 1 (2 is the power of two choices); found ${JSON.stringify(choices)}`);
  }
  return choices;
}

export default definePlugin({
  name: 'lb-random',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Power of two random choices, weighted (balance: random).',
  autoload: true,
  setup(api) {
    api.registerBalancer('random', powerOfChoices);
  },
});
