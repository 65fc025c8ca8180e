// API keys: a key in a header (default `x-api-key`) or a query parameter, checked against
// keys stored as SHA-256 digests, from the options and from a keys file read again on
// every reload. The presented key is hashed and its digest looked up: the lookup's timing
// depends on the digest, which an attacker cannot steer towards a stored one, so it leaks
// nothing about the keys (the comparison is as good as constant-time with respect to them).
// A client gets a 401; a known key's name lands in `ctx.state.apiKey` (a rate limiter keys
// on it) and may be sent to the server as a header. The key itself is removed from the
// request sent to the server.
import { createHash } from 'node:crypto';
import { definePlugin, HeaderName, Stage, z, type HttpAnswer, type HttpContext } from '../../sdk/index.ts';
import { keyTable, readKeysFile, sha256Hex } from './keys.ts';

const Options = z
  .strictObject({
    /** Accepted keys, each as the SHA-256 hex digest of the key (`printf %s KEY | sha256sum`). */
    keys: z
      .array(
        z.strictObject({
          name: z.string().min(1),
          key_sha256: z.string().regex(sha256Hex, 'expected the SHA-256 hex digest of the key (64 hex digits): printf %s KEY | sha256sum'),
        }),
      )
      .default([]),
    /** A file of `name:sha256hex` lines (or JSON), relative to the config; read again on every reload. */
    keys_file: z.string().min(1).optional(),
    /** The header the key is read from. */
    header: HeaderName.default('x-api-key'),
    /** Also accept the key in this query parameter (when the header is absent). */
    query: z.string().min(1).optional(),
    /** Send the key's name to the server in this header (a client's own header of that name is always removed). */
    forward_name: HeaderName.optional(),
    /** Remove the key (header and query parameter) from the request sent to the server. */
    strip: z.boolean().default(true),
    realm: z
      .string()
      .regex(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/, 'expected printable characters without " or \\')
      .default('tapgate'),
  })
  .superRefine((o, ctx) => {
    if (!o.keys.length && o.keys_file === undefined) ctx.addIssue({ code: 'custom', path: [], input: o, message: 'expected `keys` or `keys_file`' });
  });
export type ApiKeyOptions = z.output<typeof Options>;

/** The path with every `name=` parameter removed from its query. */
function withoutParameter(path: string, name: string): string {
  const q = path.indexOf('?');
  if (q === -1) return path;
  const nameOf = (part: string) => {
    const raw = part.split('=')[0]!.replace(/\+/g, ' ');
    try {
      return decodeURIComponent(raw);
    } catch {
      return raw;
    }
  };
  const kept = path
    .slice(q + 1)
    .split('&')
    .filter((part) => nameOf(part) !== name);
  return kept.length ? `${path.slice(0, q)}?${kept.join('&')}` : path.slice(0, q);
}

export default definePlugin({
  name: 'api-key',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'API keys in a header or query parameter, stored as SHA-256 digests (options or a keys file, re-read on reload); the name in ctx.state.apiKey.',
  options: Options,
  setup(api, o) {
    if (api.scope.kind !== 'gateway' && api.scope.mode !== 'http')
      throw new Error(`api-key works in http mode; frontend "${api.scope.frontend}" is in ${api.scope.mode} mode`);
    const table = keyTable([...o.keys, ...(o.keys_file === undefined ? [] : readKeysFile(o.keys_file, api.dir))]);
    if (table.size === 0) api.log.warn('no API keys: every request will be refused');
    const { header, query } = o;

    const requests = api.metrics.counter('api_key_requests_total', 'Requests checked by the api-key plugin, by result (accepted, missing, invalid)');
    const counted = {
      accepted: requests.bind({ result: 'accepted' }),
      missing: requests.bind({ result: 'missing' }),
      invalid: requests.bind({ result: 'invalid' }),
    };
    const refuse = (description: string): HttpAnswer => ({
      status: 401,
      headers: { 'www-authenticate': `ApiKey realm="${o.realm}"`, 'content-type': 'application/json', 'cache-control': 'no-store' },
      body: `${JSON.stringify({ error: 'unauthorized', error_description: description })}\n`,
    });
    const missing = refuse(`an API key is required (${query === undefined ? `header ${header}` : `header ${header} or query parameter ${query}`})`);
    const invalid = refuse('the API key is not valid');

    api.hooks.http.request.tap({ name: api.name, stage: Stage.AUTH }, (ctx: HttpContext): HttpAnswer | undefined => {
      const key = ctx.header(header).trim() || (query === undefined ? '' : (ctx.query.get(query)?.trim() ?? ''));
      if (key === '') {
        counted.missing.inc();
        return missing;
      }
      const name = table.get(createHash('sha256').update(key, 'utf8').digest('hex'));
      if (name === undefined) {
        counted.invalid.inc();
        return invalid;
      }
      counted.accepted.inc();
      ctx.state.apiKey = { name };
      return undefined;
    });

    const forward = o.forward_name;
    if (forward !== undefined || o.strip) {
      api.hooks.http.upstreamRequest.tap({ name: api.name, stage: Stage.AUTH }, (ctx) => {
        const up = ctx.upstream!;
        if (o.strip) {
          delete up.headers[header];
          if (query !== undefined) up.path = withoutParameter(up.path, query);
        }
        if (forward !== undefined) {
          // Never the client's own: only the name of a key this plugin accepted.
          delete up.headers[forward];
          const name = (ctx.state.apiKey as { name: string } | undefined)?.name;
          if (name !== undefined) up.headers[forward] = /^[\x20-\x7e]*$/.test(name) ? name : encodeURIComponent(name);
        }
      });
    }
  },
});
