// balance: ewma — peak-EWMA, the latency-aware balancer of Finagle (PeakEwma) and
// Linkerd's proxy (tower's peak_ewma). Each server has a latency estimate; its cost is
// estimate × (in flight + 1), and a pick draws two servers (by weight, as `random` does)
// and takes the cheaper per unit of weight.
//
// The estimate is peak-sensitive: a sample above it replaces it at once, so a server
// that slows down loses traffic on its next answer. Below it, samples pull it down as an
// exponentially weighted moving average over time: a sample taken Δt after the last
// update counts for 1 - e^(-Δt/decay). Between samples the estimate decays towards zero,
// so a server left alone after being slow is tried again after a while, and takes its
// share back if it has recovered. A server not yet measured starts at `default_latency`.
//
// Samples come from `release`: HTTP, the time to the response head (or to the end when
// there was no head); TCP, the time to connect. Failures with no timing add nothing.
//
// balance_options: decay (default 10s), default_latency (30ms), choices (2); durations
// as `10s`, `250ms` or a number of ms.
import { defineBalancer, definePlugin, Duration, z, type Balancer, type BalancerInit, type PickContext, type ServerView } from '../../sdk/index.ts';
import { Choices, choicesOf } from './choices.ts';

/** A duration above zero, as in the config (`250ms`, `10s`, or ms). */
const Latency = Duration.refine((ms) => ms > 0, 'expected a duration above zero such as 10s or 250ms');

const Options = z.strictObject({
  /** How fast old samples fade, and an idle server's estimate with them. */
  decay: Latency.default(10_000),
  /** The estimate of a server not yet measured. */
  default_latency: Latency.default(30),
  choices: Choices,
});

interface Estimate {
  /** ms */
  latency: number;
  /** When `latency` was last brought up to date, from `init.now`. */
  at: number;
}

function ewmaBalancer({ decay, default_latency: defaultLatency, choices }: z.output<typeof Options>, init: BalancerInit): Balancer {
  const { now } = init;
  const estimates = new Map<ServerView, Estimate>();

  const estimateOf = (s: ServerView, t: number): Estimate => {
    let e = estimates.get(s);
    if (!e) estimates.set(s, (e = { latency: defaultLatency, at: t }));
    return e;
  };
  /** The estimate decayed towards zero up to `t`, times the work in flight. */
  const costOf = (s: ServerView, t: number): number => {
    const e = estimateOf(s, t);
    if (t > e.at) {
      // Never quite zero: a long-idle server's in-flight work must still count.
      e.latency = Math.max(e.latency * Math.exp((e.at - t) / decay), 1e-6);
      e.at = t;
    }
    return e.latency * (s.active + 1);
  };

  const choose = choicesOf(init, choices);

  return {
    pick(_ctx, eligible) {
      const t = now();
      return choose(eligible, (s) => costOf(s, t));
    },
    release(server, ctx) {
      const sample = latencyOf(ctx);
      if (sample === undefined) return;
      const t = now();
      const e = estimateOf(server, t);
      if (sample > e.latency) e.latency = sample;
      else {
        const kept = t > e.at ? Math.exp((e.at - t) / decay) : 1;
        e.latency = e.latency * kept + sample * (1 - kept);
      }
      e.at = t;
    },
    // Back from down or maintenance: what was measured before says little now.
    onServerState: (server) => void estimates.delete(server),
  };
}

function latencyOf(ctx: PickContext): number | undefined {
  if ('timings' in ctx) {
    const { ttfb, total } = ctx.timings;
    return ttfb >= 0 ? ttfb : total >= 0 ? total : undefined;
  }
  return ctx.connectTime >= 0 ? ctx.connectTime : undefined;
}

export const peakEwma = defineBalancer({
  name: 'ewma',
  description: 'Peak-EWMA: latency × (in flight + 1) per unit of weight, the cheaper of two drawn by weight.',
  options: Options,
  create: ewmaBalancer,
});

export default definePlugin({
  name: 'lb-ewma',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Peak-EWMA latency-aware power of two choices (balance: ewma).',
  autoload: true,
  extensions: [peakEwma],
});
