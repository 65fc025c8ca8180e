// balance: random — the power of two choices (Mitzenmacher): draw two different servers at
// random, with probability proportional to weight, and send the request to the one with
// fewer in flight relative to its weight. As cheap as a random pick, and it almost never
// lands on a busy server: the most loaded one can only win against an equally loaded one.
// `balance_options: { choices: N }` draws N instead (1 is plain weighted random).

import { definePlugin, type Balancer, type BalancerInit } from '../../sdk/index.ts';
import { choicesOf, readChoices } from './choices.ts';

export function powerOfChoices(init: BalancerInit): Balancer {
  for (const key of Object.keys(init.options)) {
    if (key !== 'choices') throw new Error(`unknown option "${key}" (random takes only choices)`);
  }
  const choose = choicesOf(init, readChoices(init.options));
  const inFlight = (s: { active: number }) => s.active;
  return { pick: (_ctx, eligible) => choose(eligible, inFlight) };
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
