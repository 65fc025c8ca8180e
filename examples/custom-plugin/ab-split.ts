// ab-split: sends each visitor to one variant's backend, drawn by weight on the first
// visit and kept with a cookie after that (A/B tests, canary releases).
import { definePlugin, Stage, z } from 'tapgate/sdk';

const Options = z
  .strictObject({
    /** The cookie that remembers a visitor's variant. */
    cookie: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, 'expected letters, digits, _ and -')
      .default('ab'),
    /** Each variant's share of new visitors: `{ a: 90, b: 10 }`. */
    weights: z.record(z.string().regex(/^[A-Za-z0-9_-]+$/), z.number().nonnegative()),
    /** Each variant's backend: `{ a: app-stable, b: app-next }`. */
    backends: z.record(z.string(), z.string()),
  })
  .refine((o) => Object.values(o.weights).some((w) => w > 0), { message: 'expected at least one weight above 0', path: ['weights'] })
  .refine((o) => Object.keys(o.weights).every((v) => v in o.backends), { message: 'every variant in weights needs a backend', path: ['backends'] });

/** Kept for a month: a visitor should not change variant between two visits. */
const maxAge = 30 * 24 * 3600;

/** The plugin, drawing with `random` (tests pass a seeded one; the gateway uses Math.random). */
export function abSplit(random: () => number = Math.random) {
  return definePlugin({
    name: 'ab-split',
    version: '1.0.0',
    gateway: '^0.1',
    description: 'Splits visitors between backends by weight; a cookie keeps each visitor on one variant.',
    options: Options,
    setup(api, options) {
      // Once per generation: the draw's table, cumulative weights in variant order.
      const variants = Object.entries(options.weights).filter(([, w]) => w > 0);
      const total = variants.reduce((sum, [, w]) => sum + w, 0);
      const draw = (): string => {
        let r = random() * total;
        for (const [variant, weight] of variants) if ((r -= weight) < 0) return variant;
        return variants[variants.length - 1]![0];
      };

      // A backend name that is not in the config would fail every request: fail the load instead.
      api.hooks.app.boot.tapPromise(api.name, async () => {
        const missing = Object.values(options.backends).filter((b) => !api.backends().has(b));
        if (missing.length) throw new Error(`no backend named ${missing.join(', ')} (options.backends)`);
      });

      // Choosing a backend is a route decision: bail with its name.
      api.hooks.http.route.tap({ name: api.name, stage: Stage.ROUTE }, (ctx) => {
        let variant = ctx.cookies[options.cookie];
        if (variant === undefined || !Object.hasOwn(options.weights, variant)) {
          variant = draw();
          ctx.state.abSplitNew = variant; // a new visitor: the response carries the cookie
        }
        return options.backends[variant];
      });

      api.hooks.http.upstreamResponse.tap(api.name, (ctx, res) => {
        const variant = ctx.state.abSplitNew;
        if (typeof variant !== 'string') return;
        const cookie = `${options.cookie}=${variant}; Path=/; Max-Age=${maxAge}; SameSite=Lax`;
        const existing = res.headers['set-cookie'];
        res.headers['set-cookie'] = existing === undefined ? cookie : [...(Array.isArray(existing) ? existing : [existing]), cookie];
      });
    },
  });
}

export default abSplit();
