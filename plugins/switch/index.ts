// Content switching: the built-in matcher kinds, and the router that picks each
// request's (or connection's) route on the kernel's `route` hook — the first route, in
// config order, whose `match` holds. Routers are built once per generation, at boot.
import { definePlugin, Stage, type MatchContext, type RouteView } from '../../sdk/index.ts';
import { builtinMatchers } from './matchers.ts';
import { Router } from './router.ts';

export default definePlugin({
  name: 'switch',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Routes requests and connections by host, path, headers, addresses, SNI and protocol.',
  autoload: true,
  extensions: builtinMatchers,
  setup(api) {
    const routers = new Map<string, Router>();
    api.hooks.app.boot.tap('switch', (generation) => {
      for (const frontend of generation.frontends) {
        const routes = api.routes(frontend);
        if (routes.length) routers.set(frontend, new Router(routes));
      }
    });
    const select = (ctx: MatchContext): RouteView | undefined => routers.get(ctx.frontend)?.select(ctx);
    api.hooks.http.route.tap({ name: 'switch', stage: Stage.ROUTE }, select);
    api.hooks.tcp.route.tap({ name: 'switch', stage: Stage.ROUTE }, select);
  },
});
