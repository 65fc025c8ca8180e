// Simple rewrites, for a route's (or a frontend's) plugin chain: the path and headers of
// the request sent to the server (`upstreamRequest`), and the headers of the server's
// response (`upstreamResponse`). Everything is compiled in setup; a request runs only the
// steps its options asked for, and the response is tapped only when it has something to do
// (a tap there makes the kernel hold the response head until it returns).
import { appendHeader, definePlugin, HeaderMap, HeaderName, RegexSource, Stage, z, type HttpHeaders } from '../../sdk/index.ts';

/** `/api` or `/api/` (the same prefix); not `/` alone, which would strip or add nothing. */
const Prefix = z
  .string()
  .regex(/^\/[^\s?#]*$/, 'expected a path prefix starting with "/", without spaces, "?" or "#"')
  .transform((p) => p.replace(/\/+$/, ''))
  .refine((p) => p !== '', 'expected a prefix longer than "/"');

const HeaderEdits = z.strictObject({
  /** Removed first. */
  remove: z.array(HeaderName).default([]),
  /** Then set, replacing any value. */
  set: HeaderMap.default({}),
  /** Then added beside any value already there. */
  add: HeaderMap.default({}),
});
type HeaderEdits = z.output<typeof HeaderEdits>;

const Options = z
  .strictObject({
    /** Removed from the start of the upstream path, at a segment boundary: `/api/x?y` → `/x?y`, `/api` → `/`. */
    strip_prefix: Prefix.optional(),
    /** Then the path (without the query) is replaced where the regex matches; `$1` refers to groups. */
    path: z.strictObject({ regex: RegexSource, replace: z.string() }).optional(),
    /** Then put in front of the upstream path: `/x` → `/v1/x`. */
    add_prefix: Prefix.optional(),
    request_headers: HeaderEdits.optional(),
    /** Applied to the server's responses (not to answers a plugin gives instead). */
    response_headers: HeaderEdits.optional(),
  })
  .refine((o) => Object.values(o).some((v) => v !== undefined), 'expected at least one of strip_prefix, path, add_prefix, request_headers, response_headers');
export type RewriteOptions = z.output<typeof Options>;

export default definePlugin({
  name: 'rewrite',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Rewrites the upstream path (strip or add a prefix, regex) and request and response headers.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`rewrite works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const rewritePath = pathRewriter(o);
    const editRequest = o.request_headers && headerEditor(o.request_headers);
    const editResponse = o.response_headers && headerEditor(o.response_headers);
    const tap = { name: api.name, stage: Stage.ROUTE };

    if (rewritePath || editRequest) {
      api.hooks.http.upstreamRequest.tap(tap, (ctx) => {
        const up = ctx.upstream!;
        if (rewritePath) {
          const q = up.path.indexOf('?');
          up.path = q === -1 ? rewritePath(up.path) : rewritePath(up.path.slice(0, q)) + up.path.slice(q);
        }
        editRequest?.(up.headers);
      });
    }
    // Synchronous, and only when asked for: the kernel holds the head while taps run.
    if (editResponse) api.hooks.http.upstreamResponse.tap(tap, (_ctx, res) => editResponse(res.headers));
  },
});

/** The path steps the options ask for, in order (strip, regex, add), as one function; undefined when none. */
function pathRewriter(o: RewriteOptions): ((path: string) => string) | undefined {
  const steps: ((path: string) => string)[] = [];
  const strip = o.strip_prefix;
  if (strip !== undefined) {
    steps.push((p) => (p === strip ? '/' : p.startsWith(strip) && p.charCodeAt(strip.length) === 47 /* / */ ? p.slice(strip.length) : p));
  }
  if (o.path) {
    const regex = new RegExp(o.path.regex);
    const replace = o.path.replace;
    steps.push((p) => {
      const out = p.replace(regex, replace);
      return out.startsWith('/') ? out : `/${out}`;
    });
  }
  const add = o.add_prefix;
  if (add !== undefined) steps.push((p) => add + p);
  if (steps.length === 0) return undefined;
  if (steps.length === 1) return steps[0];
  return (p) => steps.reduce((path, step) => step(path), p);
}

function headerEditor(e: HeaderEdits): (headers: HttpHeaders) => void {
  const { remove } = e;
  const set = Object.entries(e.set);
  const add = Object.entries(e.add);
  return (headers) => {
    for (const name of remove) delete headers[name];
    for (const [name, value] of set) headers[name] = value;
    for (const [name, value] of add) appendHeader(headers, name, value);
  };
}
