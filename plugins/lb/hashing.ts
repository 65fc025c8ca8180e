// What the hash-based balancers (source, uri, hdr, cookie) share: the key hash, the two
// ways HAProxy turns a hash into a server (`hash-type map-based | consistent`), bounded
// loads on the consistent ring, and the round-robin fallback for requests without a key.
// Each algorithm file only says which key to hash.
import { z, type Balancer, type BalancerInit, type PickContext, type ServerView } from '../../sdk/index.ts';
import { smoothRoundRobin } from './roundrobin.ts';

const encoder = new TextEncoder();
let bytes = new Uint8Array(256);

/** MurmurHash3 (x86, 32 bits) of the UTF-8 bytes of `key`: fast, well mixed, the same in every worker. */
export function murmur3(key: string, seed = 0): number {
  if (key.length * 3 > bytes.length) bytes = new Uint8Array(key.length * 3);
  const len = encoder.encodeInto(key, bytes).written;
  const b = bytes;
  let h = seed >>> 0;
  let i = 0;
  for (const end = len & ~3; i < end; i += 4) {
    let k = b[i]! | (b[i + 1]! << 8) | (b[i + 2]! << 16) | (b[i + 3]! << 24);
    k = Math.imul(k, 0xcc9e2d51);
    k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
    h ^= k;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest) {
    let k = b[i]!;
    if (rest > 1) k |= b[i + 1]! << 8;
    if (rest > 2) k |= b[i + 2]! << 16;
    k = Math.imul(k, 0xcc9e2d51);
    h ^= Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  }
  h ^= len;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface HashOptions {
  readonly hash_type: 'map-based' | 'consistent';
  /** 0: off; otherwise 1 + ε of bounded loads (1.25 lets a server take 25% more than its share). */
  readonly balance_factor: number;
}

/**
 * `hash_type` and `balance_factor`, the `balance_options` every hash algorithm takes.
 * An algorithm with options of its own adds them: `z.strictObject({ ...hashShape, whole }).superRefine(onTheRing)`.
 */
export const hashShape = {
  /** map-based: the hash modulo the sum of weights; consistent: a hash ring, so a server leaving moves only its keys. */
  hash_type: z.enum(['map-based', 'consistent']).default('map-based'),
  /** Bounded loads on the consistent ring: 0 (off) or 1 + ε, such as 1.25. */
  balance_factor: z
    .number()
    .refine((f) => f === 0 || f >= 1, 'expected 0 (off) or a number of at least 1, such as 1.25')
    .default(0),
};

/** `balance_factor` bounds loads on the ring: without one, it means nothing. */
export function onTheRing(o: HashOptions, ctx: z.RefinementCtx): void {
  if (o.balance_factor > 0 && o.hash_type !== 'consistent') {
    ctx.addIssue({
      code: 'custom',
      path: ['balance_factor'],
      input: o.balance_factor,
      message: 'balance_factor bounds loads on the consistent ring: add hash_type: consistent',
    });
  }
}

export const HashOptions = z.strictObject(hashShape).superRefine(onTheRing);

export interface HashKey {
  /** What to hash for this request or connection; undefined or "" to place it by round robin. */
  key(ctx: PickContext): string | undefined;
}

/** A balancer that sends equal keys to the same server, and keyless requests round robin (as HAProxy does). */
export function hashBalancer(init: BalancerInit, options: HashOptions, spec: HashKey): Balancer {
  const balanceFactor = options.balance_factor;
  const fallback = smoothRoundRobin(init);
  let table: (eligible: readonly ServerView[]) => ServerTable;
  if (options.hash_type === 'consistent') {
    // The ring holds every server of the backend and is built here, at load time; a
    // change in the eligible set or in weights only changes which points count.
    let ring = new Ring(init.servers);
    table = cachedPerSet((eligible) => {
      let view = ring.view(eligible);
      if (!view) view = (ring = new Ring([...new Set([...ring.servers, ...eligible])])).view(eligible)!;
      return view;
    });
  } else {
    table = cachedPerSet((eligible) => new WeightedMap(eligible));
  }
  return {
    pick(ctx, eligible) {
      const key = spec.key(ctx);
      return key ? table(eligible).serverFor(murmur3(key), balanceFactor) : fallback.pick(ctx, eligible);
    },
    onServerState: (server) => fallback.onServerState?.(server),
  };
}

export interface ServerTable {
  serverFor(hash: number, balanceFactor?: number): ServerView;
}

/**
 * Builds a table once per eligible set and reuses it while the same servers, with the
 * same weights, stay eligible. Checked server by server rather than by array identity
 * alone: a slow-starting server's weight ramps up inside the same eligible array.
 */
export function cachedPerSet<T>(build: (eligible: readonly ServerView[]) => T): (eligible: readonly ServerView[]) => T {
  let servers: readonly ServerView[] = [];
  let weights: number[] = [];
  let table: T | undefined;
  return (eligible) => {
    let same = table !== undefined && eligible.length === servers.length;
    for (let i = 0; same && i < eligible.length; i++) same = eligible[i] === servers[i] && eligible[i]!.weight === weights[i];
    if (!same) {
      servers = eligible.slice();
      weights = eligible.map((s) => s.weight);
      table = build(servers);
    }
    return table!;
  };
}

/** `hash-type map-based`: the hash modulo the sum of weights, each server owning a slice as wide as its weight. */
export class WeightedMap implements ServerTable {
  readonly #servers: readonly ServerView[];
  /** Running sums of the weights: server i owns [ends[i-1], ends[i]). */
  readonly #ends: Uint32Array;

  constructor(servers: readonly ServerView[]) {
    this.#servers = servers;
    this.#ends = new Uint32Array(servers.length);
    let sum = 0;
    servers.forEach((s, i) => (this.#ends[i] = sum += s.weight));
  }

  serverFor(hash: number): ServerView {
    const ends = this.#ends;
    const slot = hash % ends[ends.length - 1]!;
    let lo = 0;
    let hi = ends.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (ends[mid]! > slot) hi = mid;
      else lo = mid + 1;
    }
    return this.#servers[lo]!;
  }
}

/** Virtual nodes per unit of weight on the consistent ring: enough for shares within a few percent. */
export const POINTS_PER_WEIGHT = 100;

/**
 * `hash-type consistent`: POINTS_PER_WEIGHT × weight points per server on a 32-bit ring.
 * Point v of a server sits at murmur3("<backend>/<server>#v"): it depends on that server
 * alone, so removing or adding one of n servers moves only the keys on its points (about
 * 1/n of them), and a weight going from w to w' adds or removes its points past 100·w.
 * Built once for all the backend's servers; `view(eligible)` says which points count.
 */
export class Ring {
  readonly servers: readonly ServerView[];
  readonly #index: Map<ServerView, number>;
  /** Points per server when the ring was built: a server may count fewer, never more. */
  readonly #built: Uint32Array;
  /** Sorted positions on the ring, and for each the server (index) and virtual node number. */
  readonly points: Uint32Array;
  readonly owners: Uint32Array;
  readonly vnodes: Uint32Array;

  constructor(servers: readonly ServerView[]) {
    this.servers = servers;
    this.#index = new Map(servers.map((s, i) => [s, i]));
    this.#built = Uint32Array.from(servers, (s) => s.weight * POINTS_PER_WEIGHT);
    const total = this.#built.reduce((a, b) => a + b, 0);
    const position = new Uint32Array(total);
    const owner = new Uint32Array(total);
    const vnode = new Uint32Array(total);
    let n = 0;
    servers.forEach((s, i) => {
      for (let v = 0; v < this.#built[i]!; v++, n++) {
        position[n] = murmur3(`${s.id}#${v}`);
        owner[n] = i;
        vnode[n] = v;
      }
    });
    // Equal positions go to the server listed first, then the lower point: the same in every worker.
    const order = new Uint32Array(total).map((_, i) => i).sort((a, b) => position[a]! - position[b]! || a - b);
    this.points = order.map((i) => position[i]!);
    this.owners = order.map((i) => owner[i]!);
    this.vnodes = order.map((i) => vnode[i]!);
  }

  /** The ring as `eligible` sees it, or undefined when one of them is unknown or heavier than when the ring was built. */
  view(eligible: readonly ServerView[]): RingView | undefined {
    const counted = new Uint32Array(this.servers.length);
    for (const s of eligible) {
      const i = this.#index.get(s);
      if (i === undefined || s.weight * POINTS_PER_WEIGHT > this.#built[i]!) return undefined;
      counted[i] = s.weight * POINTS_PER_WEIGHT;
    }
    return new RingView(this, counted);
  }
}

/**
 * A ring restricted to the eligible servers: a key goes to the owner of the first point
 * at or after its hash that counts.
 *
 * With a balance factor c = 1 + ε (bounded loads: Mirrokni, Thorup and Zadimoghaddam,
 * 2016; HAProxy's hash-balance-factor), a server takes a new request only while its
 * in-flight count stays within ceil(c × (in flight + 1) × weight / total weight); the
 * key walks on along the ring to the next server with room. The capacities add up to
 * more than the load, so one always has room.
 */
export class RingView implements ServerTable {
  readonly #ring: Ring;
  /** Points of each server that count: 0 for one not eligible. */
  readonly #counted: Uint32Array;
  readonly #eligible: number;
  readonly #totalWeight: number;
  /** Servers already tried in the current walk: stamped rather than cleared per pick. */
  readonly #tried: Uint32Array;
  #stamp = 0;

  constructor(ring: Ring, counted: Uint32Array) {
    this.#ring = ring;
    this.#counted = counted;
    this.#eligible = counted.filter((c) => c > 0).length;
    this.#totalWeight = counted.reduce((a, b) => a + b, 0) / POINTS_PER_WEIGHT;
    this.#tried = new Uint32Array(counted.length);
  }

  serverFor(hash: number, balanceFactor = 0): ServerView {
    const { points, owners, vnodes, servers } = this.#ring;
    let lo = 0;
    let hi = points.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < hash) lo = mid + 1;
      else hi = mid;
    }
    let allowed = 0;
    if (balanceFactor > 0) {
      let inFlight = 0;
      for (let i = 0; i < servers.length; i++) if (this.#counted[i]) inFlight += servers[i]!.active;
      allowed = balanceFactor * (inFlight + 1);
      if (++this.#stamp === 2 ** 32) {
        this.#tried.fill(0);
        this.#stamp = 1;
      }
    }
    let home: ServerView | undefined;
    for (let i = lo % points.length, steps = 0, tried = 0; steps < points.length && tried < this.#eligible; steps++, i = i + 1 === points.length ? 0 : i + 1) {
      const owner = owners[i]!;
      if (vnodes[i]! >= this.#counted[owner]!) continue;
      const server = servers[owner]!;
      if (balanceFactor === 0) return server;
      if (this.#tried[owner] === this.#stamp) continue;
      this.#tried[owner] = this.#stamp;
      tried++;
      home ??= server;
      if (server.active < Math.ceil((allowed * server.weight) / this.#totalWeight)) return server;
    }
    // Reached only if `active` moved under us mid-walk: stay at home.
    return home!;
  }
}
