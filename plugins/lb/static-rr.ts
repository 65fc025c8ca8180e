// balance: static-rr — HAProxy's static round robin (lb_map.c). Weights are read once, at
// load, and laid out as a schedule of sum(weights) slots in which a server's turns are
// spread evenly (weights 3,1 give a a b a). A pick takes the next slot whose server is
// eligible: no arithmetic over the servers per pick, so 1,000 servers cost what 10 do.
// Weights changing at run time (slowstart) have no effect, as in HAProxy.
//
// The eligible list changes often (a server reaching its maxconn leaves it, and comes
// back when a slot frees), so a change does not always rebuild the schedule: while the
// eligible servers are all in it and own at least half of its slots, the pick just steps
// over the others (HAProxy skips full servers the same way). Otherwise the schedule is
// rebuilt for the eligible servers only, so a pick never walks far.
import { defineBalancer, definePlugin, type Balancer, type BalancerInit, type ServerView } from '../../sdk/index.ts';

function staticSchedule({ servers }: BalancerInit): Balancer {
  const known: ServerView[] = [];
  const indexOf = new Map<ServerView, number>();
  /** Weights as they were at load. */
  const weights: number[] = [];
  const learn = (s: ServerView) => {
    indexOf.set(s, known.length);
    known.push(s);
    weights.push(s.weight);
    return known.length - 1;
  };
  for (const s of servers) learn(s);

  /** Server indices, one per slot. */
  let schedule = new Uint32Array(0);
  /** How many slots of `schedule` each server owns. */
  let slots: number[] = [];
  let cursor = 0;
  /** A server is eligible when its stamp equals `epoch`: no clearing between changes. */
  const stamp: number[] = [];
  let epoch = 0;
  let current: readonly ServerView[] | undefined;

  const rebuild = (members: readonly number[]) => {
    const raw = members.map((i) => Math.max(1, weights[i]!));
    const d = raw.reduce(gcd);
    const w = raw.map((x) => x / d);
    // Slot k of a server of weight w sits at (2k + 1) / 2w of the cycle; ties go to the
    // server listed first.
    const at: number[] = [];
    const owner: number[] = [];
    members.forEach((i, m) => {
      for (let k = 0; k < w[m]!; k++) {
        at.push((2 * k + 1) / (2 * w[m]!));
        owner.push(i);
      }
    });
    const order = Array.from(at, (_, j) => j).sort((a, b) => at[a]! - at[b]! || owner[a]! - owner[b]!);
    schedule = Uint32Array.from(order, (j) => owner[j]!);
    slots = new Array<number>(known.length).fill(0);
    members.forEach((i, m) => (slots[i] = w[m]!));
    cursor %= schedule.length;
  };

  const follow = (eligible: readonly ServerView[]) => {
    epoch++;
    let owned = 0;
    let outside = false;
    const members: number[] = [];
    for (const s of eligible) {
      const i = indexOf.get(s) ?? learn(s);
      stamp[i] = epoch;
      members.push(i);
      if (!slots[i]) outside = true;
      owned += slots[i] ?? 0;
    }
    if (outside || owned * 2 < schedule.length) rebuild(members);
    current = eligible;
  };

  return {
    pick(_ctx, eligible) {
      if (eligible !== current) follow(eligible);
      // Eligible servers own at least half of the slots, spread out: a few steps at most.
      for (;;) {
        const i = schedule[cursor]!;
        cursor = cursor + 1 === schedule.length ? 0 : cursor + 1;
        if (stamp[i] === epoch) return known[i];
      }
    },
  };
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

export const staticRoundRobin = defineBalancer({
  name: 'static-rr',
  description: 'Static weighted round robin: a schedule built once, weights read at load.',
  create: (_options, init) => staticSchedule(init),
});

export default definePlugin({
  name: 'lb-static-rr',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Static weighted round robin, weights fixed at load (balance: static-rr).',
  autoload: true,
  extensions: [staticRoundRobin],
});
