// The power of N choices, shared by `random` and `ewma`: draw N distinct servers with
// probability proportional to weight, keep the one with the lowest cost per unit of weight.
//
// Weights are read at each draw (they ramp up during slowstart) by rejection sampling:
// a uniformly drawn server is kept with probability weight / heaviest weight, so a draw
// costs O(1) when weights are close; when they are far apart and the draws keep missing,
// one exact pass over the servers decides.
import { z, type BalancerInit, type ServerView } from '../../sdk/index.ts';

export type ChooseBest = (eligible: readonly ServerView[], cost: (s: ServerView) => number) => ServerView;

export function choicesOf(init: BalancerInit, choices: number): ChooseBest {
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

  return (eligible, cost) => {
    if (eligible.length === 1) return eligible[0]!;
    const n = Math.min(choices, eligible.length);
    taken = 0;
    let best = draw(eligible);
    let bestCost = cost(best);
    drawn[taken++] = best;
    for (let c = 1; c < n; c++) {
      const s = draw(eligible);
      drawn[taken++] = s;
      const sCost = cost(s);
      // Lower cost per unit of weight wins; on a tie, the first drawn.
      if (sCost * best.weight < bestCost * s.weight) {
        best = s;
        bestCost = sCost;
      }
    }
    return best;
  };
}

/** `balance_options.choices`: servers drawn per pick, 2 by default (the power of two choices); 1 is plain weighted random. */
export const Choices = z.number().int().min(1).default(2);
