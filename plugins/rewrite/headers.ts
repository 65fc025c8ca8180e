// Header names and values as a config writes them, checked the way Node checks them
// when it writes a head, so a mistake is a `tapgate check` problem and not a 500.
// Shared by the plugins that set headers (rewrite, respond).
import { z, type HttpHeaders } from '../../sdk/index.ts';

/**
 * The gateway frames messages itself: changing these would let a config desynchronise
 * the body from its head (request smuggling) or break keep-alive.
 */
const framing = new Set(['content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'proxy-connection']);

/** A token (RFC 9110 5.1), lower case like every header name the kernel hands out; not one the gateway frames messages with. */
export const HeaderName = z
  .string()
  .regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'expected a header name (letters, digits and !#$%&\'*+.^_`|~-)')
  .transform((name) => name.toLowerCase())
  .refine((name) => !framing.has(name), 'expected a header other than the ones the gateway frames messages with (content-length, transfer-encoding, connection, keep-alive, upgrade, te, trailer)');

/** Text without control characters (no CR or LF: no header injection); YAML numbers are taken as text. */
export const HeaderValue = z
  .union([z.string(), z.number()])
  .transform(String)
  .pipe(z.string().regex(/^[\t\x20-\x7e\x80-\xff]*$/, 'expected a header value without control characters or line breaks'));

/** `{ name: value }`, names lower case. */
export const HeaderMap = z.record(HeaderName, HeaderValue);

/** Adds a value to a header: another line for Set-Cookie, ", "-joined for the others (RFC 9110 5.3). */
export function appendHeader(headers: HttpHeaders, name: string, value: string): void {
  const prior = headers[name];
  if (prior === undefined) headers[name] = value;
  else if (name === 'set-cookie') headers[name] = [prior, value].flat();
  else headers[name] = `${Array.isArray(prior) ? prior.join(', ') : prior}, ${value}`;
}
