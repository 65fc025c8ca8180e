// Shared pieces of the rate-limit tests: a config around one origin, and a tiny plugin
// that plays the authentication plugins' part (claims, API key) from request headers.
import type { TestOrigin } from '../../helpers/gateway.ts';

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

/** One frontend `web` on port 0 in front of `origin`, with `plugins`. */
export function webConfig(origin: TestOrigin, plugins: unknown[], more: Record<string, unknown> = {}): object {
  return {
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins, ...more } },
    backends: { app: { servers: [{ name: 'a', address: origin.address }] } },
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
  const res = await fetch(url, { headers });
  return { status: res.status, policy: res.headers.get('ratelimit-policy'), limit: res.headers.get('ratelimit'), retryAfter: res.headers.get('retry-after'), body: await res.text() };
}

/** `n` requests in turn; their statuses. */
export async function statuses(n: number, url: string | ((i: number) => string), headers: Record<string, string> | ((i: number) => Record<string, string>) = {}): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const res = await fetch(typeof url === 'string' ? url : url(i), { headers: typeof headers === 'function' ? headers(i) : headers });
    await res.arrayBuffer();
    out.push(res.status);
  }
  return out;
}
