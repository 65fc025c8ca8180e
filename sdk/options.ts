// Option schemas several plugins need, so each says the same thing the same way and a
// mistake is a `tapgate check` problem (with the key path), never a 500 at run time.
import { BlockList, isIP } from 'node:net';
import { z } from 'zod';
import type { HttpHeaders } from './context.ts';
import { parseDuration, parseSize } from './units.ts';
import { hopByHop } from './http.ts';

const compiles = (source: string): boolean => {
  try {
    new RegExp(source);
    return true;
  } catch {
    return false;
  }
};

/** A regular expression's source, refused by `check` when it does not compile. */
export const RegexSource = z.string().min(1).refine(compiles, 'expected a valid regular expression');

const parses = (parse: (v: string | number) => number) => (v: string | number) => {
  try {
    const n = parse(v);
    return Number.isFinite(n) && n >= 0;
  } catch {
    return false;
  }
};

/** A duration as configs write it (`30s`, `250ms`, `5m`, `1h`) or a number of milliseconds; gives milliseconds, 0 or more. */
export const Duration = z
  .union([z.number().nonnegative(), z.string()])
  .refine(parses(parseDuration), 'expected a duration such as 30s, 500ms, 5m or a number of milliseconds')
  .transform(parseDuration);

/** A size as configs write it (`64k`, `1m`, `2g`) or a number of bytes; gives bytes. */
export const Size = z
  .union([z.number().int().nonnegative(), z.string()])
  .refine(parses(parseSize), 'expected a size such as 64m, 512k or a number of bytes')
  .transform(parseSize);

/**
 * The gateway frames messages itself: a config changing these would let it desynchronise
 * the body from its head (request smuggling) or break keep-alive.
 */
const framing: ReadonlySet<string> = new Set(['content-length', ...hopByHop]);

/** A header name (an RFC 9110 token), lower-cased like every name the kernel hands out; not one the gateway frames messages with. */
export const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, "expected a header name (letters, digits and !#$%&'*+.^_`|~-)")
  .transform((name) => name.toLowerCase())
  .refine((name) => !framing.has(name), `expected a header other than the ones the gateway frames messages with (${[...framing].join(', ')})`);

/** Text without control characters (no CR or LF: no header injection); YAML numbers are taken as text. */
export const HeaderValue = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'expected a header value without control characters or line breaks'));

/** `{ name: value }`, names lower case. */
export const HeaderMap = z.record(HeaderName, HeaderValue);

/** Adds a value to a header: another line for Set-Cookie, ", "-joined for the others (RFC 9110 §5.3). */
export function appendHeader(headers: HttpHeaders, name: string, value: string): void {
  const prior = headers[name];
  if (prior === undefined) headers[name] = value;
  else if (name === 'set-cookie') headers[name] = [prior, value].flat();
  else headers[name] = `${Array.isArray(prior) ? prior.join(', ') : prior}, ${value}`;
}

/** An address block: `10.0.0.0/8`, `fd00::/8`, or one address (`192.168.1.7`, `::1`). */
export interface CidrBlock {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** Reads `10.0.0.0/8` or a lone address; undefined when it is neither. */
export function parseCidr(value: string): CidrBlock | undefined {
  const [address = '', bits, ...rest] = value.split('/');
  const version = isIP(address);
  if (!version || rest.length) return undefined;
  const max = version === 4 ? 32 : 128;
  if (bits !== undefined && !/^\d+$/.test(bits)) return undefined;
  const prefix = bits === undefined ? max : Number(bits);
  if (prefix > max) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

/** An address or CIDR block, checked; gives it as written. */
export const Cidr = z.string().refine((v) => parseCidr(v) !== undefined, 'expected an address or CIDR block, e.g. 10.0.0.0/8, 192.168.1.7 or fd00::/8');

/**
 * A test of client addresses against blocks (each as `Cidr` accepts), built once: IPv4
 * clients on a dual-stack socket (`::ffff:a.b.c.d`) are tested as IPv4.
 */
export function addressMatcher(blocks: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const block of blocks) {
    const c = parseCidr(block);
    if (!c) throw new Error(`not an address or CIDR block: ${JSON.stringify(block)}`);
    list.addSubnet(c.address, c.prefix, c.family);
  }
  return (address) => {
    const v4 = address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
    const family = isIP(v4);
    return family !== 0 && list.check(v4, family === 4 ? 'ipv4' : 'ipv6');
  };
}
