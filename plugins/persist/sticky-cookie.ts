// Session persistence by cookie, as HAProxy's `cookie SRV insert indirect`: the first
// response names the server in a cookie; later requests carrying it go back to that
// server while it can serve (a server in drain still takes its sticky clients). The
// cookie is removed from requests on their way to the server.
import { definePlugin, Stage, z, type ServerView } from '../../sdk/index.ts';

const Options = z.strictObject({
  /** Cookie name. */
  name: z
    .string()
    .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a cookie name')
    .default('SRVID'),
  /** Backends where persistence applies (default: every backend the frontend reaches). */
  backends: z.array(z.string()).optional(),
  /** Cookie attributes. */
  path: z.string().default('/'),
  secure: z.boolean().default(false),
  max_age: z.number().int().positive().optional(),
  /** Remove the cookie from requests sent to servers. */
  indirect: z.boolean().default(true),
});

export default definePlugin({
  name: 'sticky-cookie',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Session persistence: a cookie names the server a client sticks to.',
  options: Options,
  setup(api, o) {
    const applies = o.backends ? new Set(o.backends) : undefined;
    const attributes = `; Path=${o.path}; HttpOnly${o.secure ? '; Secure' : ''}${o.max_age ? `; Max-Age=${o.max_age}` : ''}; SameSite=Lax`;
    const canServe = (s: ServerView) => s.up && s.state !== 'maint' && s.weight > 0 && (s.maxconn === 0 || s.active < s.maxconn);

    api.hooks.http.pickServer.tap({ name: api.name, stage: Stage.ROUTE }, (ctx, backend) => {
      if (applies && !applies.has(backend.name)) return;
      const wanted = ctx.cookies[o.name];
      if (!wanted) return;
      const server = backend.servers.find((s) => s.name === wanted);
      return server && canServe(server) ? server : undefined;
    });

    if (o.indirect) {
      api.hooks.http.upstreamRequest.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx) => {
        if (!ctx.cookies[o.name] || !ctx.upstream) return;
        const rest = Object.entries(ctx.cookies)
          .filter(([k]) => k !== o.name)
          .map(([k, v]) => `${k}=${v}`)
          .join('; ');
        if (rest) ctx.upstream.headers.cookie = rest;
        else delete ctx.upstream.headers.cookie;
      });
    }

    api.hooks.http.upstreamResponse.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx, res) => {
      const server = ctx.server;
      if (!server || (applies && !applies.has(server.backend)) || ctx.cookies[o.name] === server.name) return;
      const cookie = `${o.name}=${server.name}${attributes}`;
      const existing = res.headers['set-cookie'];
      res.headers['set-cookie'] = existing === undefined ? [cookie] : [...[existing].flat(), cookie];
    });
  },
});
