// What may go into an HTTP/1 head the gateway writes, to a client or to a server. Plugins
// set fields, paths and methods too, and a CR or LF in one would split the message in
// two (response splitting, request smuggling): every head is checked before it leaves.
// Names are remembered once seen valid.

/** A token (RFC 9110 5.6.2): what a field name and a method must be. */
const token = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What a field value must not contain: CR, LF, NUL or other controls but HTAB. */
const badValue = /[\x00-\x08\x0a-\x1f\x7f]/;
/** What a request target must not contain: controls and spaces. */
const badTarget = /[\x00-\x20\x7f]/;
/** Names (and methods) seen valid already (bounded): most heads carry the same few dozen. */
const validNames = new Set<string>();

export class InvalidHeaderError extends TypeError {
  readonly code = 'ERR_INVALID_HEADER';
}

/** Throws unless `name` (a field's name, or a method) is a token. */
export function checkName(name: string, what = 'header name'): void {
  if (validNames.has(name)) return;
  if (!token.test(name)) throw new InvalidHeaderError(`invalid ${what} ${JSON.stringify(name)}`);
  if (validNames.size < 500) validNames.add(name);
}

/** Throws unless `value`, the value of `name`, is free of what a value must not hold. */
export function checkValue(name: string, value: string, what = 'header'): void {
  if (badValue.test(value)) throw new InvalidHeaderError(`invalid value for ${what} "${name}"`);
}

/** `name: value\r\n`, once for each of a field's values, each checked first. */
export function fieldLines(name: string, value: string | readonly string[], what = 'header'): string {
  if (typeof value === 'string') {
    checkValue(name, value, what);
    return `${name}: ${value}\r\n`;
  }
  let out = '';
  for (const v of value) {
    checkValue(name, v, what);
    out += `${name}: ${v}\r\n`;
  }
  return out;
}

/** Throws unless a request line's method and target can be written as they are. */
export function checkRequestLine(method: string, target: string): void {
  checkName(method, 'method');
  if (target === '' || badTarget.test(target)) throw new InvalidHeaderError(`invalid request target ${JSON.stringify(target)}`);
}

/** uri-host [":" port] (RFC 9112 3.2, RFC 3986 3.2.2): an IP literal or a reg-name, empty included. */
const hostSyntax = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})*)(?::[0-9]*)?$/;

let lastValidHost = '';
/** A Host value a server may be sent (and a request may carry: RFC 9112 3.2 wants 400 for any other). The last valid one is remembered: a kept-alive client sends the same. */
export function validHost(value: string): boolean {
  if (value === lastValidHost) return true;
  if (!hostSyntax.test(value)) return false;
  lastValidHost = value;
  return true;
}

/**
 * The body length a message's head gives, when a Content-Length alone frames it (one
 * value, digits only, no Transfer-Encoding); undefined otherwise (chunked, until close, or
 * a head llhttp reads the body of by itself).
 */
export function framedLength(headers: Readonly<Record<string, string | string[] | undefined>>): number | undefined {
  const length = headers['content-length'];
  return typeof length === 'string' && headers['transfer-encoding'] === undefined && /^\d{1,15}$/.test(length) ? Number(length) : undefined;
}
