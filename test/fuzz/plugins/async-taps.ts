// A plugin that waits a turn of the event loop (setImmediate) in an async tap on every
// hook of a request's path, doing nothing else: under fuzz it shows what the kernel does
// when a request's handling spans turns (a body error arriving while a tap is pending).
import { definePlugin, Stage } from 'tapgate/sdk';

const aTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

export default definePlugin({
  name: 'fuzz-async-taps',
  version: '1.0.0',
  gateway: '^0.1',
  setup(api) {
    const tap = { name: api.name, stage: Stage.FIRST };
    const h = api.hooks.http;
    h.received.tapPromise(tap, async () => void (await aTurn()));
    h.request.tapPromise(tap, async () => void (await aTurn()));
    h.upstreamRequest.tapPromise(tap, async () => void (await aTurn()));
    h.upstreamResponse.tapPromise(tap, async () => void (await aTurn()));
    h.errorResponse.tapPromise(tap, async () => void (await aTurn()));
    return () => {};
  },
});
