// llhttp as node:http uses it: `HTTPParser` from node's internal `_http_common`. Internal,
// so test/core/http/h1-parser.test.ts pins every behaviour the gateway relies on (strict
// parsing, CL+TE refused, callbacks' arguments, headers flushed early, upgrades).
import { createRequire } from 'node:module';
import type { HttpHeaders } from '../../../sdk/context.ts';

export interface Parser {
  initialize(type: number, resource: object, maxHeaderSize: number, lenient: number): void;
  /** Bytes parsed, or an Error with `code` (e.g. HPE_INVALID_TRANSFER_ENCODING) and `bytesParsed`. */
  execute(data: Buffer): number | ParseError;
  /** End of input: an Error when a message was cut short. */
  finish(): undefined | ParseError;
  close(): void;
  free(): void;
  remove(): void;
  [callback: number]: unknown;
}

export interface ParseError extends Error {
  code: string;
  reason?: string;
  bytesParsed: number;
}

interface ParserClass {
  new (): Parser;
  readonly REQUEST: number;
  readonly RESPONSE: number;
  readonly kOnHeaders: number;
  readonly kOnHeadersComplete: number;
  readonly kOnBody: number;
  readonly kOnMessageComplete: number;
  readonly kOnExecute: number;
  readonly kLenientNone: number;
}

// A built-in module: any absolute path will do as the base (the binary has no import.meta.url).
const common = createRequire(process.execPath)('_http_common') as { HTTPParser: ParserClass; methods: string[] };

export const HTTPParser = common.HTTPParser;
/** Method names by llhttp's index (the 4th argument of kOnHeadersComplete). */
export const methods: readonly string[] = common.methods;
export const { kOnHeaders, kOnHeadersComplete, kOnBody, kOnMessageComplete } = HTTPParser;

/** What a parser calls back with; see the pinning tests for the arguments. */
export interface ParserCallbacks {
  /** Field lines flushed before the head is complete (very many), or trailers after a chunked body. */
  onHeaders(raw: string[], url: string): void;
  /** (major, minor, raw, method index, url, status, status message, upgrade, keepAlive); 1 skips the body (a response to HEAD). */
  onHeadersComplete(
    major: number,
    minor: number,
    raw: string[] | undefined,
    method: number,
    url: string | undefined,
    status: number,
    message: string,
    upgrade: boolean,
    keepAlive: boolean,
  ): number;
  onBody(chunk: Buffer): void;
  onMessageComplete(): void;
}

/** A parser of requests (`HTTPParser.REQUEST`) or responses, calling `c` back. `maxHeaderSize` 0: llhttp's default. */
export function createParser(type: number, maxHeaderSize: number, c: ParserCallbacks): Parser {
  const parser = new HTTPParser();
  parser.initialize(type, {}, maxHeaderSize, 0);
  parser[kOnHeaders] = c.onHeaders;
  parser[kOnHeadersComplete] = c.onHeadersComplete;
  parser[kOnBody] = c.onBody;
  parser[kOnMessageComplete] = c.onMessageComplete;
  return parser;
}

/**
 * Request parsers kept for reuse: a keep-alive connection holds one only while a request
 * is arriving or being answered, so 10,000 idle connections do not hold 10,000 llhttp
 * states (about 2.6 KiB each, mostly outside V8's heap). At most this many wait here:
 * enough for the ups and downs of requests in flight; a burst beyond it makes parsers (a
 * few µs each) that then go, rather than stay as memory idle connections never use.
 */
const spareParsers: Parser[] = [];
const maxSpareParsers = 64;

/**
 * A request parser calling `owner`'s methods back: a spare one made ready again, or a new
 * one. The callbacks are the functions below, shared by every parser, which find their
 * connection on the parser: a connection holds no closures of its own for them.
 */
export function takeRequestParser(maxHeaderSize: number, owner: ParserCallbacks): Parser {
  let parser = spareParsers.pop();
  if (parser) parser.initialize(HTTPParser.REQUEST, {}, maxHeaderSize, 0);
  else parser = createParser(HTTPParser.REQUEST, maxHeaderSize, ownerCallbacks);
  parser[kOnHeaders] = ownerCallbacks.onHeaders;
  parser[kOnHeadersComplete] = ownerCallbacks.onHeadersComplete;
  parser[kOnBody] = ownerCallbacks.onBody;
  parser[kOnMessageComplete] = ownerCallbacks.onMessageComplete;
  (parser as OwnedParser).owner = owner;
  return parser;
}

type OwnedParser = Parser & { owner: ParserCallbacks | undefined };

/** llhttp calls these with the parser as `this`. */
const ownerCallbacks: ParserCallbacks = {
  onHeaders(this: OwnedParser, raw, url) {
    this.owner!.onHeaders(raw, url);
  },
  onHeadersComplete(this: OwnedParser, major, minor, raw, method, url, status, message, upgrade, keepAlive) {
    return this.owner!.onHeadersComplete(major, minor, raw, method, url, status, message, upgrade, keepAlive);
  },
  onBody(this: OwnedParser, chunk) {
    this.owner!.onBody(chunk);
  },
  onMessageComplete(this: OwnedParser) {
    this.owner!.onMessageComplete();
  },
};

/** Gives back a request parser between two messages (nothing of a next one read): kept for another connection, or closed. */
export function releaseRequestParser(parser: Parser): void {
  parser[kOnHeaders] = parser[kOnHeadersComplete] = parser[kOnBody] = parser[kOnMessageComplete] = undefined;
  (parser as OwnedParser).owner = undefined;
  if (spareParsers.length < maxSpareParsers) {
    parser.remove();
    parser.free();
    spareParsers.push(parser);
  } else parser.close();
}

/**
 * Field lines (as llhttp gives them: name, value, name, value...) as an object: names
 * lower case, repeated fields joined with ", " (cookie with "; "), set-cookie a list.
 */
export function headersOf(raw: readonly string[], into: HttpHeaders = {}): HttpHeaders {
  for (let i = 0; i < raw.length; i += 2) {
    const name = lowerName(raw[i]!);
    const value = raw[i + 1]!;
    const prior = into[name];
    if (prior === undefined) into[name] = name === 'set-cookie' ? [value] : value;
    else if (Array.isArray(prior)) prior.push(value);
    else into[name] = `${prior}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  return into;
}

/** Most names arrive in one of a few spellings; lower-casing each anew is the cost that shows. */
const names = new Map<string, string>();
function lowerName(name: string): string {
  let lower = names.get(name);
  if (lower === undefined) {
    lower = name.toLowerCase();
    if (names.size < 1000) names.set(name, lower);
  }
  return lower;
}
