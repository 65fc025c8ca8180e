// A user plugin: adds a header to every response and answers /healthz itself.
import { definePlugin, Stage, z } from 'tapgate/sdk';

export default definePlugin({
  name: 'hello-header',
  version: '1.0.0',
  gateway: '^0.1',
  options: z.strictObject({ header: z.string().default('x-gateway') }),
  setup(api, options) {
    api.hooks.http.request.tapPromise({ name: api.name, stage: Stage.ROUTE }, async (ctx) => {
      if (ctx.path === '/healthz') return { status: 200, headers: { 'content-type': 'text/plain' }, body: 'ok\n' };
    });
    api.hooks.http.upstreamResponse.tapPromise(api.name, async (ctx, res) => {
      res.headers[options.header] = `${api.generation.id}/${ctx.server?.name}`;
    });
  },
});
