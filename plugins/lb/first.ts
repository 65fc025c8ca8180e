// balance: first — HAProxy's `first`: every request goes to the first server, in config
// order, that can take it. Give servers a maxconn: the first fills up to it, the kernel
// then leaves it out of the eligible list and the next one takes the overflow, so the
// servers at the end stay idle (and can be switched off) while load is low. Weights are
// ignored, as in HAProxy.
//
// The kernel keeps the eligible list in config order, so the first eligible server is
// the answer; nothing to compute.
import { defineBalancer, definePlugin } from '../../sdk/index.ts';

export const firstAvailable = defineBalancer({
  name: 'first',
  description: 'The first server in config order below its maxconn.',
  create: () => ({ pick: (_ctx, eligible) => eligible[0] }),
});

export default definePlugin({
  name: 'lb-first',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'The first server in config order below its maxconn (balance: first).',
  autoload: true,
  extensions: [firstAvailable],
});
