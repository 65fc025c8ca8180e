// balance: random — the power of two choices (Mitzenmacher): draw two different servers at
// random, with probability proportional to weight, and send the request to the one with
// fewer in flight relative to its weight. As cheap as a random pick, and it almost never
// lands on a busy server: the most loaded one can only win against an equally loaded one.
// `balance_options: { choices: N }` draws N instead (1 is plain weighted random).

import { defineBalancer, definePlugin, z } from '../../sdk/index.ts';
import { Choices, choicesOf } from './choices.ts';

const inFlight = (s: { active: number }) => s.active;

export const powerOfChoices = defineBalancer({
  name: 'random',
  description: 'Power of two random choices, drawn by weight: the one with fewer in flight per unit of weight.',
  options: z.strictObject({ choices: Choices }),
  create: (options, init) => {
    const choose = choicesOf(init, options.choices);
    return { pick: (_ctx, eligible) => choose(eligible, inFlight) };
  },
});

export default definePlugin({
  name: 'lb-random',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Power of two random choices, weighted (balance: random).',
  autoload: true,
  extensions: [powerOfChoices],
});
