// A plugin with a synchronous tap on every HTTP hook, reading what it is given and
// changing nothing: under fuzz it shows that what a tap sees (ctx.path, headers, the
// chosen server) is always there to read, however malformed the request was.
import { definePlugin, Stage } from 'tapgate/sdk';

export default definePlugin({
  name: 'fuzz-sync-taps',
  version: '1.0.0',
  gateway: '^0.1',
  setup(api) {
    const tap = { name: api.name, stage: Stage.FIRST };
    const h = api.hooks.http;
    let seen = 0;
    const read = (ctx: { method: string; path: string; headers: Record<string, unknown> }) => {
      seen += ctx.method.length + ctx.path.length + Object.keys(ctx.headers).length;
    };
    h.accept.tap(tap, () => undefined);
    h.received.tap(tap, (ctx) => void read(ctx));
    h.route.tap(tap, (ctx) => void read(ctx));
    h.request.tap(tap, (ctx) => void read(ctx));
    h.pickServer.tap(tap, (ctx) => void read(ctx));
    h.upstreamRequest.tap(tap, (ctx) => void read(ctx));
    h.upstreamResponse.tap(tap, (ctx, res) => void (seen += res.status));
    h.errorResponse.tap(tap, (ctx) => void read(ctx));
    h.responseSent.tap(tap, (ctx) => void read(ctx));
    h.requestError.tap(tap, (ctx) => void read(ctx));
    return () => void (seen = 0);
  },
});
