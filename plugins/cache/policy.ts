// RFC 9111 for a shared cache, as functions of headers and clock readings (ms): what
// may be stored, for how long it is fresh, how old it is, and whether a stored
// response may answer a request. No I/O here.
import type { HttpHeaders } from '../../sdk/index.ts';
import { parseHttpDate } from './http-date.ts';

/** Cache-Control directives: lower-case name → argument (unquoted), or true without one. */
export type Directives = ReadonlyMap<string, string | true>;

/** Status codes a cache may give heuristic freshness to (RFC 9110 15.1); 206 is left out: ranges are not stored. */
const heuristicStatuses = new Set([200, 203, 204, 300, 301, 308, 404, 405, 410, 414, 501]);
/** RFC 9111 4.2.2 suggests 10% of the time since Last-Modified; we also cap it at a day, as most caches do. */
const heuristicFraction = 0.1;
const heuristicMax = 86_400_000;
/** The greatest delta-seconds a cache need represent, in ms (5.1): an Age that cannot be read counts as this old. */
const maxDelta = 2 ** 31 * 1000;

/** Methods that do not invalidate (RFC 9110 9.2.1 safe methods). */
export const safeMethods: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** A response as the cache keeps it: plain data, so a shared store can serialize it. */
export interface CachedResponse {
  status: number;
  /** Header fields as the origin sent them (hop-by-hop fields already gone), less those no-cache="..." and private="..." name. */
  headers: HttpHeaders;
  body: Uint8Array;
  /** Clock readings (ms) around the exchange that produced or last validated it (4.2.3). */
  requestTime: number;
  responseTime: number;
  /** corrected_initial_age (ms), 4.2.3. */
  initialAge: number;
  /** freshness_lifetime (ms), 4.2.1. */
  lifetime: number;
  /** May be served stale this long after it expires while it is revalidated (RFC 5861 3). */
  staleWhileRevalidate: number;
  /** May be served stale this long after it expires when the origin errs (RFC 5861 4). */
  staleIfError: number;
  /** Never served stale: must-revalidate, proxy-revalidate, s-maxage or no-cache (4.2.4). */
  noStale: boolean;
  /** Every use needs a successful validation first: no-cache (5.2.2.4). */
  noCache: boolean;
  /** Request header names it varies on, lower case (4.1). */
  vary: string[];
  /** Names to purge it by (the origin's tag header, e.g. Cache-Tag); not from the RFC. */
  tags: string[];
}

export function header(headers: HttpHeaders, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : Array.isArray(v) ? v.join(', ') : v;
}

/** No directives: what most requests carry, shared. */
const none: Directives = new Map();

export function parseCacheControl(value: string | string[] | undefined): Directives {
  if (value === undefined) return none;
  const out = new Map<string, string | true>();
  const text = Array.isArray(value) ? value.join(',') : value;
  // name[=token|"quoted, string"], comma separated
  const re = /\s*([^\s=,]+)\s*(?:=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*)))?\s*(?:,|$)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) && m[0] !== '') {
    const name = m[1]!.toLowerCase();
    const value = directiveValue(m[2], m[3]);
    const first = out.get(name);
    if (first === undefined) out.set(name, value);
    // Repeated, these withhold every field named, or the whole response once one is bare.
    else if (name === 'no-cache' || name === 'private') out.set(name, first === true || value === true ? true : `${first}, ${value}`);
  }
  return out;
}

/** A directive's argument, unquoted, or true without one. */
function directiveValue(quoted: string | undefined, unquoted: string | undefined): string | true {
  return quoted !== undefined ? quoted.replace(/\\(.)/g, '$1') : (unquoted ?? true);
}

/** A delta-seconds argument in ms; undefined when absent, 0 when malformed (treated as stale, 4.2.1). */
export function seconds(d: Directives, name: string): number | undefined {
  const v = d.get(name);
  if (v === undefined) return undefined;
  if (v === true || !/^\d+$/.test(v)) return 0;
  return Math.min(Number(v), 2 ** 31) * 1000;
}

/** A field name is a token (RFC 9110 5.1). */
const fieldName = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/**
 * The field names of a qualified `no-cache="..."` or `private="..."` (5.2.2.4, 5.2.2.7),
 * lower case; undefined when the directive is absent, bare, or its argument is not a
 * list of field names (then it counts as bare, the stricter reading).
 */
function qualifiedFields(d: Directives, name: string): string[] | undefined {
  const v = d.get(name);
  if (v === undefined || v === true) return undefined;
  const names = v.split(',').map((s) => s.trim().toLowerCase());
  return names.every((n) => fieldName.test(n)) ? names : undefined;
}

/** Whether a directive is present in its unqualified form (or with an argument that is not a field list). */
function bare(d: Directives, name: string): boolean {
  return d.has(name) && qualifiedFields(d, name) === undefined;
}

/**
 * Fields a shared cache must not store (private="...") or send without validation
 * (no-cache="..."): it keeps neither; nor `Set-Cookie` when it strips cookies (`set_cookie: strip`).
 */
function withheldFields(res: Directives, stripCookies = false): Set<string> {
  const withheld = new Set([...(qualifiedFields(res, 'no-cache') ?? []), ...(qualifiedFields(res, 'private') ?? [])]);
  if (stripCookies) withheld.add('set-cookie');
  return withheld;
}

/** The header fields to store: the response's, less those its Cache-Control withholds (and `Set-Cookie` when stripping cookies). */
export function storedHeaders(headers: HttpHeaders, res: Directives, stripCookies = false): HttpHeaders {
  const withheld = withheldFields(res, stripCookies);
  if (withheld.size === 0) return headers;
  const out: HttpHeaders = {};
  for (const name in headers) if (!withheld.has(name)) out[name] = headers[name];
  return out;
}

/** Request directives, with `Pragma: no-cache` read as `no-cache` when there is no Cache-Control (5.4). */
export function requestDirectives(headers: HttpHeaders): Directives {
  const cc = headers['cache-control'];
  if (cc === undefined && headers.pragma !== undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(header(headers, 'pragma') ?? ''))
    return new Map([['no-cache', true]]);
  return parseCacheControl(cc);
}

export function varyNames(headers: HttpHeaders): string[] {
  const v = header(headers, 'vary');
  if (!v) return [];
  return [
    ...new Set(
      v
        .split(',')
        .map((s) => s.trim().toLowerCase())
        .filter(Boolean),
    ),
  ];
}

/**
 * Whether a shared cache may store the response (RFC 9111 3, 3.5, 5.2). Stricter than
 * the RFC where serving it would be unwise: Set-Cookie, Vary: *, partial content and
 * responses that would be stale at once without a validator are not stored.
 */
export function isStorable(
  method: string,
  hasAuthorization: boolean,
  req: Directives,
  status: number,
  res: Directives,
  headers: HttpHeaders,
  stripCookies = false,
): boolean {
  if (method !== 'GET') return false;
  if (status < 200 || status === 206 || status === 304) return false;
  if (req.has('no-store') || res.has('no-store') || bare(res, 'private')) return false;
  if (hasAuthorization && !(res.has('public') || res.has('must-revalidate') || res.has('s-maxage'))) return false;
  if (headers['set-cookie'] !== undefined && !withheldFields(res, stripCookies).has('set-cookie')) return false;
  if (varyNames(headers).includes('*')) return false;
  const explicit = res.has('public') || res.has('s-maxage') || res.has('max-age') || headers.expires !== undefined;
  return explicit || heuristicStatuses.has(status);
}

/** An HTTP-date field's time (ms), NaN when absent or not exactly an HTTP-date; `now` places two-digit years. */
function httpDate(value: string | undefined, now: number): number {
  return value === undefined ? NaN : parseHttpDate(value, now);
}

/**
 * freshness_lifetime for a shared cache (4.2.1), in ms; `override` replaces what the
 * origin says. Never above the greatest Age (5.1), so an unreadable Age is never fresh.
 */
export function freshnessLifetime(status: number, res: Directives, headers: HttpHeaders, responseTime: number, override?: number): number {
  return Math.min(maxDelta, override ?? originLifetime(status, res, headers, responseTime));
}

function originLifetime(status: number, res: Directives, headers: HttpHeaders, responseTime: number): number {
  const explicit = seconds(res, 's-maxage') ?? seconds(res, 'max-age');
  if (explicit !== undefined) return explicit;
  const date = httpDate(header(headers, 'date'), responseTime);
  const dateValue = Number.isNaN(date) ? responseTime : date;
  const expires = header(headers, 'expires');
  if (expires !== undefined) {
    const at = httpDate(expires, responseTime);
    return Number.isNaN(at) ? 0 : Math.max(0, at - dateValue);
  }
  const lastModified = httpDate(header(headers, 'last-modified'), responseTime);
  if ((heuristicStatuses.has(status) || res.has('public')) && !Number.isNaN(lastModified) && lastModified < dateValue) {
    return Math.min(heuristicMax, Math.floor((dateValue - lastModified) * heuristicFraction));
  }
  return 0;
}

/** corrected_initial_age (4.2.3), in ms. */
export function initialAge(headers: HttpHeaders, requestTime: number, responseTime: number): number {
  const date = httpDate(header(headers, 'date'), responseTime);
  const apparentAge = Number.isNaN(date) ? 0 : Math.max(0, responseTime - date);
  const ageValue = ageField(header(headers, 'age'));
  const correctedAgeValue = ageValue + Math.max(0, responseTime - requestTime);
  return Math.max(apparentAge, correctedAgeValue);
}

/**
 * age_value (4.2.3), in ms: 0 without Age. Age is a single delta-seconds (5.1); of a list
 * (`7200, 0`, or Age on two field lines) the first member counts when it is digits only.
 * Anything else cannot be read safely: the response counts as the oldest there is, stale.
 */
function ageField(value: string | undefined): number {
  if (value === undefined) return 0;
  const first = value.split(',')[0]!.replace(/^[ \t]+|[ \t]+$/g, '');
  return /^\d+$/.test(first) ? Math.min(Number(first), 2 ** 31) * 1000 : maxDelta;
}

/** current_age (4.2.3), in ms. */
export function currentAge(entry: CachedResponse, now: number): number {
  return entry.initialAge + Math.max(0, now - entry.responseTime);
}

/** The Age header value: whole seconds (5.1). */
export function ageSeconds(ms: number): string {
  return String(Math.min(2 ** 31, Math.floor(ms / 1000)));
}

/** Everything derived from a response's head that the cache keeps with it. */
export function describe(status: number, headers: HttpHeaders, body: Uint8Array, requestTime: number, responseTime: number, ttl?: number): CachedResponse {
  const res = parseCacheControl(headers['cache-control']);
  return {
    status,
    headers: storedHeaders(headers, res),
    body,
    requestTime,
    responseTime,
    initialAge: initialAge(headers, requestTime, responseTime),
    lifetime: freshnessLifetime(status, res, headers, responseTime, ttl),
    staleWhileRevalidate: seconds(res, 'stale-while-revalidate') ?? 0,
    staleIfError: seconds(res, 'stale-if-error') ?? 0,
    noStale: res.has('must-revalidate') || res.has('proxy-revalidate') || res.has('s-maxage') || bare(res, 'no-cache'),
    noCache: bare(res, 'no-cache'),
    vary: varyNames(headers),
    tags: [],
  };
}

/** What a stored response may do for a request (4.2, 4.2.4, 5.2.1; RFC 5861). */
export type Use =
  | { use: 'fresh'; age: number }
  /** Stale but the client accepts it (max-stale) or the origin allows it while revalidating in the background. */
  | { use: 'stale'; age: number; background: boolean }
  | { use: 'revalidate'; age: number };

export function useFor(entry: CachedResponse, req: Directives, now: number): Use {
  const age = currentAge(entry, now);
  if (entry.noCache || req.has('no-cache')) return { use: 'revalidate', age };
  const maxAge = seconds(req, 'max-age');
  if (maxAge !== undefined && age > maxAge) return { use: 'revalidate', age };
  const minFresh = seconds(req, 'min-fresh');
  if (minFresh !== undefined && entry.lifetime - age < minFresh) return { use: 'revalidate', age };
  if (entry.lifetime > age) return { use: 'fresh', age };
  if (entry.noStale) return { use: 'revalidate', age };
  const staleness = age - entry.lifetime;
  const maxStale = req.get('max-stale');
  if (maxStale === true || (maxStale !== undefined && staleness <= (seconds(req, 'max-stale') ?? 0))) return { use: 'stale', age, background: false };
  if (staleness < entry.staleWhileRevalidate && maxAge === undefined) return { use: 'stale', age, background: true };
  return { use: 'revalidate', age };
}

/** Whether a stale response may stand in for an origin's error (RFC 5861 4): its own directive or the request's. */
export function staleIfErrorAllows(entry: CachedResponse, req: Directives, now: number): boolean {
  if (entry.noStale) return false;
  const limit = Math.max(entry.staleIfError, seconds(req, 'stale-if-error') ?? 0);
  return limit > 0 && currentAge(entry, now) - entry.lifetime <= limit;
}

/** Errors a stale response may hide (RFC 5861 4). */
export const originErrors: ReadonlySet<number> = new Set([500, 502, 503, 504]);

/** Weak comparison of entity tags (RFC 9110 8.8.3.2). */
function weakEqual(a: string, b: string): boolean {
  return a.replace(/^W\//, '') === b.replace(/^W\//, '');
}

/** Whether the client's own conditional (If-None-Match, else If-Modified-Since) matches: answer 304 (RFC 9111 4.3.2, RFC 9110 13.1). */
export function notModified(reqHeaders: HttpHeaders, entry: CachedResponse): boolean {
  if (entry.status !== 200) return false;
  const inm = header(reqHeaders, 'if-none-match');
  if (inm !== undefined) {
    const etag = header(entry.headers, 'etag');
    if (inm.trim() === '*') return true;
    return etag !== undefined && inm.split(',').some((t) => weakEqual(t.trim(), etag.trim()));
  }
  const ims = httpDate(header(reqHeaders, 'if-modified-since'), entry.responseTime);
  if (Number.isNaN(ims)) return false;
  const lastModified = httpDate(header(entry.headers, 'last-modified') ?? header(entry.headers, 'date'), entry.responseTime);
  return !Number.isNaN(lastModified) && lastModified <= ims;
}

/** Header fields a 304 carries (RFC 9110 15.4.5). */
const notModifiedFields = ['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary', 'last-modified'];
export function notModifiedHeaders(entry: CachedResponse): HttpHeaders {
  const out: HttpHeaders = {};
  for (const name of notModifiedFields) if (entry.headers[name] !== undefined) out[name] = entry.headers[name];
  return out;
}

/** Fields a 304 must not change in what is stored (RFC 9111 3.2). */
const notUpdated = new Set(['content-length', 'set-cookie']);

/** The stored headers freshened by a 304's (RFC 9111 4.3.4). */
export function freshenHeaders(stored: HttpHeaders, fresh: HttpHeaders): HttpHeaders {
  const out: HttpHeaders = { ...stored };
  for (const name in fresh) if (!notUpdated.has(name) && fresh[name] !== undefined) out[name] = fresh[name];
  return out;
}
