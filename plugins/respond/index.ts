// A fixed response: answers on the `request` hook with a status, headers and a body from
// the options, so the request never reaches a server (maintenance pages, robots.txt, a
// health answer, a 404 for a path nobody should reach). The answer is built in setup.
import { definePlugin, HeaderMap, HeaderValue, Stage, z, type HttpAnswer } from '../../sdk/index.ts';

const Options = z
  .strictObject({
    status: z.number().int().min(200, 'expected a status from 200 to 599').max(599, 'expected a status from 200 to 599').default(200),
    /** Sent as UTF-8 text; nothing to HEAD requests. */
    body: z.string().default(''),
    content_type: HeaderValue.default('text/plain; charset=utf-8'),
    /** Further headers; Content-Length is set from the body. */
    headers: HeaderMap.default({}),
  })
  .superRefine((o, ctx) => {
    if ('content-type' in o.headers)
      ctx.addIssue({ code: 'custom', path: ['headers'], input: o.headers, message: 'expected the content type in `content_type`, not in `headers`' });
    if ((o.status === 204 || o.status === 304) && o.body !== '')
      ctx.addIssue({ code: 'custom', path: ['body'], input: o.body, message: `expected no body with status ${o.status}` });
  });

export default definePlugin({
  name: 'respond',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Answers every request it sees with a fixed status, headers and body.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`respond works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const body = o.status === 204 || o.status === 304 ? undefined : Buffer.from(o.body);
    const headers = body ? { 'content-type': o.content_type, ...o.headers } : o.headers;
    // A fresh head each time: whatever handles the answer may add to it.
    api.hooks.http.request.tap({ name: api.name, stage: Stage.ROUTE }, (): HttpAnswer => ({ status: o.status, headers: { ...headers }, body }));
  },
});
