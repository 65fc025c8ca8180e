// Shared pieces of the rate-limit tests: a config around one origin, and a tiny plugin
// that plays the authentication plugins' part (claims, API key) from request headers.
import { get as fetchOnce } from 'tapgate/sdk/testing';

/** Sets `ctx.state.claims` from `x-sub`/`x-org` and `ctx.state.apiKey` from `x-key` (`name:k` sets the bare name), at Stage.AUTH. */
export const whoPlugin = `
import { definePlugin, Stage } from 'tapgate/sdk';
export default definePlugin({
  name: 'who',
  version: '1.0.0',
  setup(api) {
    api.hooks.http.request.tap({ name: 'who', stage: Stage.AUTH }, (ctx) => {
      const sub = ctx.header('x-sub');
      if (sub) ctx.state.claims = { sub, org: ctx.header('x-org') ? Number(ctx.header('x-org')) : undefined };
      const key = ctx.header('x-key');
      if (key) ctx.state.apiKey = key.startsWith('name:') ? key.slice(5) : { name: key };
    });
  },
});
`;

/** One frontend `web` on port 0 in front of origin `a`, with `plugins`. */
export function webConfig(plugins: unknown[], more: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins, ...more } },
    backends: { app: { servers: [{ name: 'a', address: 'origin:a' }] } },
  };
}

export interface Seen {
  status: number;
  policy: string | null;
  limit: string | null;
  retryAfter: string | null;
  body: string;
}

export async function get(url: string, headers: Record<string, string> = {}): Promise<Seen> {
  const res = await fetchOnce(url, headers);
  const field = (name: string) => (res.headers[name] as string | undefined) ?? null;
  return { status: res.status, policy: field('ratelimit-policy'), limit: field('ratelimit'), retryAfter: field('retry-after'), body: res.body };
}

/** `n` requests in turn; their statuses. */
export async function statuses(
  n: number,
  url: string | ((i: number) => string),
  headers: Record<string, string> | ((i: number) => Record<string, string>) = {},
): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await fetchOnce(typeof url === 'string' ? url : url(i), typeof headers === 'function' ? headers(i) : headers)).status);
  return out;
}
