// ns per pick of every built-in balancing algorithm, with 10 and 1,000 servers.
//
//   node --import tsx bench/lb-picks.ts > bench/results/lb-picks.md
//
// The algorithms are found as the kernel finds them: the balancers among the built-in
// plugins' extensions, each made with its options schema's output. A pick is timed as the
// kernel makes it, with the same eligible array between picks, followed by the release
// of the request placed `IN_FLIGHT` picks earlier, so servers have work in flight and
// `release` (where ewma learns) is counted too. Requests are real HttpContexts with
// varied client addresses, paths, headers and cookies, for the hash-based algorithms.
// Median of ROUNDS short rounds taken in turn across all algorithms, after a warm-up.
import os from 'node:os';
import { builtinPlugins } from '../plugins/index.ts';
import { HttpContext } from '../core/http/context.ts';
import type { Balancer, BalancerExtension, ServerState, ServerView } from '../sdk/index.ts';
import { newServerHealth } from '../core/upstream/health.ts';

const SIZES = [10, 1000];
const ROUNDS = 15;
const ROUND_MS = 20;
const IN_FLIGHT = 64;
const CONTEXTS = 1024;
/** Some algorithms take an argument (hdr(x-user), cookie(x-user)): the requests carry both. */
const ARGUMENT = 'x-user';
/** Variants worth a row of their own, when the algorithm is registered. */
const VARIANTS: Record<string, Record<string, unknown>[]> = {
  source: [{ hash_type: 'consistent' }],
  uri: [{ hash_type: 'consistent' }],
  hdr: [{ hash_type: 'consistent' }],
  cookie: [{ hash_type: 'consistent' }],
};

class BenchServer implements ServerView {
  readonly id: string;
  readonly health = newServerHealth();
  readonly address = { host: '127.0.0.1', port: 0 };
  readonly backend = 'bench';
  readonly maxconn = 0;
  readonly backup = false;
  readonly state: ServerState = 'ready';
  readonly up = true;
  readonly usable = true;
  active = 0;
  peakActive = 0;
  readonly changedAt = 0;
  constructor(
    readonly name: string,
    readonly weight: number,
  ) {
    this.id = `bench/${name}`;
  }
}

function registeredBalancers(): Map<string, BalancerExtension> {
  const found = new Map<string, BalancerExtension>();
  for (const plugin of builtinPlugins) for (const e of plugin.extensions ?? []) if (e.kind === 'balancer') found.set(e.name, e);
  return found;
}

function contexts(): HttpContext[] {
  return Array.from({ length: CONTEXTS }, (_, i) => {
    const headers = { host: 'bench.test', 'user-agent': 'lb-picks', [ARGUMENT]: `user-${i}`, cookie: `${ARGUMENT}=u${i}; session=s${i}` };
    const client = { address: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, port: 10_000 + i };
    const ctx = new HttpContext('bench', 1, 'GET', `/items/${i}?page=${i % 7}`, '1.1', headers, client, { address: '127.0.0.1', port: 80 }, undefined, 0);
    ctx.timings.ttfb = 2 + (i % 13);
    ctx.timings.total = ctx.timings.ttfb + 1;
    return ctx;
  });
}

function make(algorithm: BalancerExtension, servers: BenchServer[], options: Record<string, unknown>): Balancer {
  const init = { backend: 'bench', servers, argument: algorithm.argument ? ARGUMENT : undefined, random: Math.random, now: Date.now };
  return algorithm.create(algorithm.options.parse(options), init);
}

/** ns of this process's CPU time per pick (and release) over `picks` picks: wall time would count other processes' turns on a shared machine. */
function round(b: Balancer, eligible: readonly BenchServer[], ctxs: HttpContext[], picks: number): number {
  const ring: (BenchServer | undefined)[] = new Array(IN_FLIGHT);
  const start = process.cpuUsage();
  for (let i = 0; i < picks; i++) {
    const ctx = ctxs[i & (CONTEXTS - 1)]!;
    const s = b.pick(ctx, eligible) as BenchServer;
    s.active++;
    const slot = i % IN_FLIGHT;
    const done = ring[slot];
    if (done) {
      done.active--;
      b.release?.(done, ctxs[(i - IN_FLIGHT) & (CONTEXTS - 1)]!);
    }
    ring[slot] = s;
  }
  const used = process.cpuUsage(start);
  const ns = ((used.user + used.system) * 1000) / picks;
  for (const s of ring) if (s) s.active--;
  return ns;
}

interface Case {
  label: string;
  n: number;
  balancer: Balancer;
  eligible: BenchServer[];
  picks: number;
  ns: number[];
}

function prepare(label: string, algorithm: BalancerExtension, options: Record<string, unknown>, n: number, ctxs: HttpContext[]): Case {
  // Weights 1, 2, 3 in turn: the weighted paths, not only the equal-weight shortcuts.
  const servers = Array.from({ length: n }, (_, i) => new BenchServer(`s${i}`, 1 + (i % 3)));
  const eligible = servers.slice();
  const balancer = make(algorithm, servers, options);
  // Warm up, and size a round to take about ROUND_MS.
  let picks = 1000;
  while (round(balancer, eligible, ctxs, picks) * picks < (ROUND_MS * 1e6) / 4) picks *= 4;
  const ns = round(balancer, eligible, ctxs, picks);
  return { label, n, balancer, eligible, picks: Math.max(1000, Math.round((ROUND_MS * 1e6) / ns)), ns: [] };
}

const balancers = registeredBalancers();
const ctxs = contexts();
const load = os.loadavg()[0]!;
const cases: Case[] = [];
for (const [name, algorithm] of balancers) {
  for (const options of [{}, ...(VARIANTS[name] ?? [])]) {
    const label = Object.keys(options).length
      ? `${name} (${Object.entries(options)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')})`
      : name;
    for (const n of SIZES) cases.push(prepare(label, algorithm, options, n, ctxs));
  }
}
// Rounds go through every case in turn, so a burst of noise from elsewhere on the
// machine lands on all of them rather than on one algorithm.
for (let r = 0; r < ROUNDS; r++) for (const c of cases) c.ns.push(round(c.balancer, c.eligible, ctxs, c.picks));
const median = (xs: number[]) => xs.slice().sort((a, b) => a - b)[xs.length >> 1]!;

const rows = [...new Set(cases.map((c) => c.label))].map((label) => {
  const cells = SIZES.map((n) => Math.round(median(cases.find((c) => c.label === label && c.n === n)!.ns)).toLocaleString('en-US'));
  return `| \`${label}\` | ${cells.join(' | ')} |`;
});

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(`# Balancing algorithms: ns per pick

Node ${process.version}, ${os.cpus().length} × ${cpu}, load average ${load.toFixed(1)} at start, ${new Date().toISOString().slice(0, 10)}.
\`node --import tsx bench/lb-picks.ts\`

One pick as the kernel makes it (the same eligible array between picks) plus the release
of the request placed ${IN_FLIGHT} picks earlier, so ${IN_FLIGHT} requests are in flight. Server weights
1, 2, 3 in turn; ${CONTEXTS} different requests (client address, path, \`${ARGUMENT}\` header and cookie).
Median of ${ROUNDS} rounds of about ${ROUND_MS} ms each, taken in turn across all rows, in CPU time
of the process (not wall time: the machine may be shared); lower is better.

| algorithm | ${SIZES.map((n) => `${n.toLocaleString('en-US')} servers`).join(' | ')} |
| --- | ${SIZES.map(() => '---:').join(' | ')} |
${rows.join('\n')}`);
