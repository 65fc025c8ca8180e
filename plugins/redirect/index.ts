// Redirects: answers on the `request` hook with a 3xx whose Location is built from a
// template, so the request never reaches a server. The template is compiled once, in
// setup, into literal parts and the request facts it names.
import { definePlugin, Stage, z, type HttpAnswer, type HttpContext } from '../../sdk/index.ts';

/** What `{name}` stands for in `to`. */
const placeholders = {
  /** `http`, or `https` when the client came over TLS. */
  scheme: (ctx: HttpContext) => (ctx.tls ? 'https' : 'http'),
  /** The Host header as sent, port included. */
  host: (ctx: HttpContext) => ctx.header('host'),
  /** The Host header without its port, lower case. */
  hostname: (ctx: HttpContext) => ctx.host,
  /** The path, without the query. */
  path: (ctx: HttpContext) => ctx.path,
  /** The query with its `?` (`?a=1`), or nothing when there is none. */
  query: (ctx: HttpContext) => {
    const q = ctx.url.indexOf('?');
    return q === -1 ? '' : ctx.url.slice(q);
  },
} satisfies Record<string, (ctx: HttpContext) => string>;
type Placeholder = keyof typeof placeholders;
const names = Object.keys(placeholders) as Placeholder[];
const placeholderPattern = /\{([A-Za-z_]+)\}/g;
/** A Host header fit for a Location: a name or an IPv4 or [IPv6] address, and maybe a port. */
const hostPattern = /^(?:[A-Za-z0-9._~-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;
/** A Location a browser takes as protocol-relative (`//`, and `\\` counts as `/`). */
const otherHost = /^[/\\]{2}/;

/** The template as one function of the request: literal parts and placeholders, in order. */
function compileTemplate(to: string): (ctx: HttpContext) => string {
  const parts: (string | ((ctx: HttpContext) => string))[] = [];
  let last = 0;
  for (const m of to.matchAll(placeholderPattern)) {
    if (m.index > last) parts.push(to.slice(last, m.index));
    parts.push(placeholders[m[1] as Placeholder]);
    last = m.index + m[0].length;
  }
  if (last < to.length) parts.push(to.slice(last));
  return (ctx) => {
    let out = '';
    for (const part of parts) out += typeof part === 'string' ? part : part(ctx);
    return out;
  };
}

const unknownPlaceholder = (to: string) => [...to.matchAll(placeholderPattern)].map((m) => m[1]!).find((n) => !(n in placeholders));
/** The template with sample values in, to see what kind of target it makes. */
const sampleOf = (to: string) =>
  to.replace(placeholderPattern, (_, n: string) => (n === 'path' ? '/p' : n === 'query' ? '' : n === 'scheme' ? 'http' : 'example.com'));
/** A path, or an http(s) URL. */
const validTarget = (to: string) => {
  const sample = sampleOf(to);
  if (/\s/.test(sample)) return false;
  if (sample.startsWith('/')) return true;
  try {
    const url = new URL(sample);
    return url.protocol === 'http:' || url.protocol === 'https:';
  } catch {
    return false;
  }
};

const Target = z
  .string()
  .min(1)
  .superRefine((to, ctx) => {
    const unknown = unknownPlaceholder(to);
    if (unknown !== undefined)
      ctx.addIssue({ code: 'custom', input: to, message: `unknown placeholder {${unknown}}: expected ${names.map((n) => `{${n}}`).join(', ')}` });
    else if (!validTarget(to))
      ctx.addIssue({ code: 'custom', input: to, message: 'expected a path starting with "/" or an http(s) URL, e.g. https://{hostname}{path}{query}' });
  });

const Options = z
  .strictObject({
    /** Where to: a path or a URL, with {scheme} {host} {hostname} {path} {query} filled in from the request. */
    to: Target.optional(),
    /** Shorthand: plain-HTTP requests go to https://{hostname}{path}{query}; requests that came over TLS pass. */
    https: z.boolean().default(false),
    /** 301 and 308 are permanent (browsers remember them); 307 and 308 keep the method and body. */
    status: z.literal([301, 302, 303, 307, 308]).default(302),
  })
  .superRefine((o, ctx) => {
    if (o.to !== undefined && o.https)
      ctx.addIssue({ code: 'custom', path: ['https'], input: o.https, message: 'expected either `to` or `https: true`, not both' });
    if (o.to === undefined && !o.https) ctx.addIssue({ code: 'custom', path: [], input: o, message: 'expected `to` (a path or URL) or `https: true`' });
  });

export default definePlugin({
  name: 'redirect',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Answers with a redirect (301, 302, 303, 307, 308) to a URL built from the request, or to https.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`redirect works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const to = o.to ?? 'https://{hostname}{path}{query}';
    const locationOf = compileTemplate(to);
    const needsHost = /\{host(name)?\}/.test(to);
    // A path template (`{path}`, `/{path}`) could expand to `//evil.example/…` or
    // `/\evil.example/…`, which a browser reads as another host: keep such a Location on this one.
    const onThisHost = !to.startsWith('//') && sampleOf(to).startsWith('/');
    const status = o.status;

    api.hooks.http.request.tap({ name: api.name, stage: Stage.ROUTE }, (ctx): HttpAnswer | undefined => {
      if (o.https && ctx.tls) return undefined;
      // The Host goes into a Location that caches may keep: only a host name or address, with a port.
      if (needsHost && !hostPattern.test(ctx.header('host')))
        return { status: 400, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: 'A redirect needs a valid Host header\n' };
      let location = locationOf(ctx);
      if (onThisHost && otherHost.test(location)) location = location.replace(/^[/\\]+/, '/');
      return { status, headers: { location, 'content-type': 'text/plain; charset=utf-8' }, body: `Redirecting to ${location}\n` };
    });
  },
});
