// Targeted cache control (RFC 9213): a response field such as CDN-Cache-Control that
// speaks to this cache alone. When one of the configured fields holds a valid
// Structured Field Dictionary (RFC 8941 3.2), the first such field replaces
// Cache-Control and Expires for this cache's decisions (RFC 9213 2.2); the response
// keeps its fields as sent. No I/O here.
import type { HttpHeaders } from '../../sdk/index.ts';
import { header } from './policy.ts';

/** A Structured Field bare item (RFC 8941 3.3): a String, the text of any other item, true for `?1` or no value, undefined for `?0`. */
type Value = { string: string } | string | true | undefined;

const keyRe = /^[a-z*][a-z0-9_\-.*]*/;
const integerRe = /^-?\d{1,15}(?!\d|\.)/;
const decimalRe = /^-?\d{1,12}\.\d{1,3}(?!\d)/;
const tokenRe = /^[A-Za-z*][!#$%&'*+\-.^_`|~0-9A-Za-z:/]*/;
const bytesRe = /^:[A-Za-z0-9+/=]*:/;

/** A small RFC 8941 parser: enough to tell a valid dictionary from an invalid one and to read its members. */
class Parser {
  i = 0;
  constructor(readonly s: string) {}

  take(re: RegExp): string | undefined {
    const m = re.exec(this.s.slice(this.i));
    if (!m) return undefined;
    this.i += m[0].length;
    return m[0];
  }

  ows(): void {
    while (this.s[this.i] === ' ' || this.s[this.i] === '\t') this.i++;
  }

  /** A bare item; `undefined` result for `?0`; throws when invalid. */
  bareItem(): Value {
    const c = this.s[this.i];
    if (c === '"') return { string: this.string() };
    if (c === '?') {
      const b = this.take(/^\?[01]/);
      if (!b) throw new Error('boolean');
      return b === '?1' ? true : undefined;
    }
    const number = this.take(decimalRe) ?? this.take(integerRe);
    if (number !== undefined) return number;
    const token = this.take(tokenRe) ?? this.take(bytesRe);
    if (token !== undefined) return token;
    throw new Error('item');
  }

  string(): string {
    let out = '';
    for (this.i++; this.i < this.s.length; this.i++) {
      const c = this.s[this.i]!;
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === '\\') {
        const next = this.s[++this.i];
        if (next !== '"' && next !== '\\') throw new Error('escape');
        out += next;
      } else if (c < ' ' || c > '~') throw new Error('string');
      else out += c;
    }
    throw new Error('unterminated string');
  }

  /** Parameters (RFC 8941 3.1.2): read and ignored, no directive has any. */
  parameters(): void {
    while (this.s[this.i] === ';') {
      this.i++;
      while (this.s[this.i] === ' ') this.i++;
      if (this.take(keyRe) === undefined) throw new Error('parameter');
      if (this.s[this.i] === '=') {
        this.i++;
        this.bareItem();
      }
    }
  }

  /** An inner list (RFC 8941 3.1.1): no directive takes one; read as an unusable value. */
  innerList(): string {
    this.i++;
    for (;;) {
      while (this.s[this.i] === ' ') this.i++;
      if (this.s[this.i] === ')') {
        this.i++;
        this.parameters();
        return '()';
      }
      this.bareItem();
      this.parameters();
      const c = this.s[this.i];
      if (c !== ' ' && c !== ')') throw new Error('inner list');
    }
  }

  dictionary(): Map<string, Value> {
    const out = new Map<string, Value>();
    this.ows();
    if (this.i === this.s.length) throw new Error('empty');
    for (;;) {
      const key = this.take(keyRe);
      if (key === undefined) throw new Error('key');
      let value: Value = true;
      if (this.s[this.i] === '=') {
        this.i++;
        value = this.s[this.i] === '(' ? this.innerList() : this.bareItem();
      }
      this.parameters();
      out.delete(key); // the last of a repeated key wins, in its place (RFC 8941 4.2.2)
      out.set(key, value);
      this.ows();
      if (this.i === this.s.length) return out;
      if (this.s[this.i] !== ',') throw new Error('comma');
      this.i++;
      this.ows();
      if (this.i === this.s.length) throw new Error('trailing comma');
    }
  }
}

/** A targeted field's members, or undefined when it is not a valid Structured Field Dictionary. */
export function parseTargeted(value: string): Map<string, Value> | undefined {
  try {
    return new Parser(value).dictionary();
  } catch {
    return undefined;
  }
}

/** Directives whose argument is delta-seconds: in a targeted field, an Integer. */
const deltaSeconds: ReadonlySet<string> = new Set(['max-age', 's-maxage', 'stale-while-revalidate', 'stale-if-error']);

/**
 * The members as Cache-Control would say them. Only a non-negative Integer is a
 * delta-seconds: any other value of `max-age` and its kin (`"60"`, `1.5`, a token)
 * comes out malformed, which the policy reads as already stale. Other values are
 * quoted (`private="set-cookie"`); `?0` is absent.
 */
function asCacheControl(members: Map<string, Value>): string {
  const out: string[] = [];
  for (const [name, value] of members) {
    if (value === undefined) continue;
    if (value === true) out.push(name);
    else if (deltaSeconds.has(name)) out.push(`${name}=${typeof value === 'string' && /^\d+$/.test(value) ? value : 'malformed'}`);
    else {
      const text = typeof value === 'string' ? value : value.string;
      out.push(`${name}="${text.replace(/["\\]/g, '\\$&')}"`);
    }
  }
  return out.join(', ');
}

/**
 * The headers as this cache's policy should read them (RFC 9213 2.2): the first field
 * of `fields` (lower case, in order of preference) that is present with a valid value
 * takes the place of Cache-Control, and Expires is ignored. Without one, `headers`
 * themselves: Cache-Control and Expires apply as usual.
 */
export function targetedView(headers: HttpHeaders, fields: readonly string[]): HttpHeaders {
  for (const name of fields) {
    const value = header(headers, name);
    if (value === undefined) continue;
    const members = parseTargeted(value);
    if (!members) continue;
    const view: HttpHeaders = { ...headers, 'cache-control': asCacheControl(members) };
    delete view.expires;
    return view;
  }
  return headers;
}
