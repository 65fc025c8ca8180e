// Who a request counts against: the client's address, a header, a JWT claim, the API
// key's name, or several of these together. Compiled once per generation into one
// function of the request; `undefined` when the request lacks a part.
import type { HttpContext } from '../../sdk/index.ts';

export type KeyPart = 'client_ip' | 'api_key' | { header: string } | { claim: string };

type Read = (ctx: HttpContext) => string | undefined;

const IPV4_MAPPED = '::ffff:';

/** A claim's value as text: strings as they are, numbers and booleans printed, lists and objects as JSON. */
function claimText(v: unknown): string | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  return typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v);
}

function reader(part: KeyPart): Read {
  if (part === 'client_ip') {
    // An IPv4 client on a dual-stack socket is the same client as on an IPv4 one.
    return (ctx) => (ctx.client.address.startsWith(IPV4_MAPPED) ? ctx.client.address.slice(IPV4_MAPPED.length) : ctx.client.address);
  }
  if (part === 'api_key') {
    // The api-key plugin's `ctx.state.apiKey`: the key's record (its name, or id) or the name itself.
    return (ctx) => {
      const k = ctx.state.apiKey as { name?: unknown; id?: unknown } | string | undefined;
      return claimText(typeof k === 'object' && k !== null ? (k.name ?? k.id) : k);
    };
  }
  if ('header' in part) {
    const name = part.header.toLowerCase();
    return (ctx) => ctx.header(name) || undefined;
  }
  const claim = part.claim;
  // The jwt plugin's `ctx.state.claims`.
  return (ctx) => claimText((ctx.state.claims as Record<string, unknown> | undefined)?.[claim]);
}

export function compileKey(parts: readonly KeyPart[]): Read {
  const readers = parts.map(reader);
  if (readers.length === 1) return readers[0]!;
  // Each part prefixed with its length, so ("a:b", "c") and ("a", "b:c") stay two clients.
  return (ctx) => {
    let key = '';
    for (const read of readers) {
      const v = read(ctx);
      if (v === undefined) return undefined;
      key += `${v.length}:${v}`;
    }
    return key;
  };
}

/** How the config says it, for logs and errors: `client_ip`, `header x-user`, `claim sub`. */
export function describeKey(parts: readonly KeyPart[]): string {
  return parts.map((p) => (typeof p === 'string' ? p : 'header' in p ? `header ${p.header}` : `claim ${p.claim}`)).join(' + ');
}
