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
import { definePlugin, type Balancer, type BalancerInit, type PickContext, type ServerView } from '../../sdk/index.ts';

interface Estimate {
  /** ms */
  latency: number;
  /** When `latency` was last brought up to date, from `init.now`. */
  at: number;
}

export function peakEwma(init: BalancerInit): Balancer {
  const { decay, defaultLatency, choices } = readOptions(init.options);
  const { random, now } = init;
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

  // Weighted draw of distinct servers, as in random.ts (see there).
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
      const t = now();
      const n = Math.min(choices, eligible.length);
      taken = 0;
      let best = draw(eligible);
      let bestCost = costOf(best, t);
      drawn[taken++] = best;
      for (let c = 1; c < n; c++) {
        const s = draw(eligible);
        drawn[taken++] = s;
        const cost = costOf(s, t);
        if (cost * best.weight < bestCost * s.weight) {
          best = s;
          bestCost = cost;
        }
      }
      return best;
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

function readOptions(options: Readonly<Record<string, unknown>>) {
  const known = ['decay', 'default_latency', 'choices'];
  for (const key of Object.keys(options)) {
    if (!known.includes(key)) throw new Error(`unknown option "${key}" (expected ${known.join(', ')})`);
  }
  const choices = options.choices ?? 2;
  if (typeof choices !== 'number' || !Number.isInteger(choices) || choices < 1) {
    throw new Error(`choices must be a whole number of at least 1; found ${JSON.stringify(choices)}`);
  }
  return {
    decay: duration('decay', options.decay ?? 10_000),
    defaultLatency: duration('default_latency', options.default_latency ?? 30),
    choices,
  };
}

/** ms from a number (ms already) or `250ms`, `10s`, `1m`; must be above zero. */
function duration(key: string, value: unknown): number {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000 };
  const m = typeof value === 'string' ? /^(\d+(?:\.\d+)?)\s*(ms|s|m)$/.exec(value.trim()) : undefined;
  const ms = typeof value === 'number' ? value : m ? Number(m[1]) * units[m[2]!]! : NaN;
  if (!(ms > 0) || !Number.isFinite(ms)) throw new Error(`${key} must be a duration above zero such as 10s or 250ms; found ${JSON.stringify(value)}`);
  return ms;
}

export default definePlugin({
  name: 'lb-ewma',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Peak-EWMA latency-aware power of two choices (balance: ewma).',
  autoload: true,
  setup(api) {
    api.registerBalancer('ewma', peakEwma);
  },
});
