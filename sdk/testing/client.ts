// The harness's client side: HTTP(S) requests whose answers read as plain objects,
// raw bytes in and out, and TCP or TLS sockets to a port.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import tls from 'node:tls';

export interface TestRequest {
  path: string;
  method?: string;
  /** Sent as given; `host` may be set (fetch would not let it). */
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Default: the config's first frontend. */
  frontend?: string;
  /** `true`: a connection of its own, closed after; default: a kept-alive one, reused. */
  fresh?: boolean;
  /** Speak TLS; default: when the frontend terminates TLS. */
  tls?: boolean;
  /** TLS: the server name sent (SNI); default none. */
  servername?: string;
  /** TLS: accept only a certificate this CA (PEM) issued for `servername`; default: any certificate. */
  ca?: string;
  /** TLS: a client certificate and its key (PEM). */
  cert?: string;
  key?: string;
}

/**
 * A response's header fields by lower-cased name, as node:http gives an origin a
 * request's: `set-cookie` is always a list of its lines; any other field sent on
 * several lines has them joined with `, ` (nothing is dropped). A field not sent is
 * `undefined`.
 */
export type TestHeaders = http.IncomingHttpHeaders;

export interface TestResponse {
  status: number;
  headers: TestHeaders;
  body: string;
  /** Over TLS: the certificate the gateway presented. */
  certificate?: tls.PeerCertificate;
}

/** How a test reaches a gateway's frontends, in this process or served by workers. */
export interface FrontDoor {
  /** A frontend's port (default: the first frontend; `n`: its n-th bind). */
  port(frontend?: string, n?: number): number;
  /** `http://127.0.0.1:<port><path>` (https for a TLS frontend). */
  url(path?: string, frontend?: string): string;
  request(request: string | TestRequest): Promise<TestResponse>;
  /** Sends `n` requests in turn; how many each origin received meanwhile, by name (origins that received none left out). */
  tally(n: number, request: string | TestRequest | ((i: number) => string | TestRequest)): Promise<Record<string, number>>;
  /** Writes `bytes` on a connection of its own to a frontend (default: the first) and reads all that comes back until it closes. */
  raw(bytes: string | Uint8Array, options?: RawOptions & { frontend?: string }): Promise<string>;
  /** A socket connected to a frontend (default: the first); over TLS (handshake done) when `tls` is given. Closed with the harness. */
  tcp(frontend?: string): Promise<net.Socket>;
  tcp(frontend: string | undefined, tls: TlsConnectOptions): Promise<tls.TLSSocket>;
}

/** The front door to frontends listed by `frontends()` (in config order, with whether each terminates TLS); `close()` ends its connections. */
export function frontDoor(o: {
  port(frontend: string, n: number): number;
  frontends(): readonly { name: string; tls: boolean }[];
  origins: Readonly<Record<string, { readonly requests: readonly unknown[] }>>;
}): FrontDoor & { close(): void } {
  const agents = { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
  const sockets = new Set<net.Socket>();
  const first = () => o.frontends()[0]!.name;
  const secure = (frontend: string) => o.frontends().find((f) => f.name === frontend)?.tls ?? false;
  const port = (frontend = first(), n = 0) => o.port(frontend, n);
  const request = (r: string | TestRequest) => {
    const req = typeof r === 'string' ? { path: r } : r;
    const frontend = req.frontend ?? first();
    const tls = req.tls ?? secure(frontend);
    return send(port(frontend), req, tls, req.fresh ? false : tls ? agents.https : agents.http);
  };
  return {
    port,
    url: (path = '/', frontend = first()) => `${secure(frontend) ? 'https' : 'http'}://127.0.0.1:${port(frontend)}${path}`,
    request,
    tally: async (n, r) => {
      const before = Object.fromEntries(Object.entries(o.origins).map(([name, origin]) => [name, origin.requests.length]));
      for (let i = 0; i < n; i++) await request(typeof r === 'function' ? r(i) : r);
      const seen: Record<string, number> = {};
      for (const [name, origin] of Object.entries(o.origins)) if (origin.requests.length > before[name]!) seen[name] = origin.requests.length - before[name]!;
      return seen;
    },
    raw: (bytes, options = {}) => rawExchange(port(options.frontend), bytes, options),
    tcp: (async (frontend?: string, secure?: TlsConnectOptions) => {
      const socket = await connect(port(frontend), secure);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      return socket;
    }) as FrontDoor['tcp'],
    close: () => {
      agents.http.destroy();
      agents.https.destroy();
      for (const s of sockets) s.destroy();
    },
  };
}

/** Sends `r` to `host`:`port`, over TLS when `secure`. node:http rather than fetch, which would not send a Host header of the test's choosing. */
function send(port: number, r: TestRequest, secure: boolean, agent: http.Agent | false, host = '127.0.0.1'): Promise<TestResponse> {
  const { path, method = 'GET', headers, body } = r;
  const options: https.RequestOptions = { host, port, path, method, headers, agent };
  if (secure) Object.assign(options, tlsOptions(r));
  return new Promise((resolve, reject) => {
    const req = (secure ? https : http).request(options, (res) => {
      // Read now: a kept-alive socket leaves the response once it ends.
      const certificate = secure ? (res.socket as tls.TLSSocket).getPeerCertificate() : undefined;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        resolve({
          status: res.statusCode!,
          headers: headersOf(res.rawHeaders),
          body: Buffer.concat(chunks).toString(),
          ...(certificate ? { certificate } : {}),
        });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

function tlsOptions(o: { servername?: string; ca?: string; cert?: string; key?: string }): tls.ConnectionOptions {
  const options: tls.ConnectionOptions = { servername: o.servername, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.ca !== undefined };
  // With a CA the name checked is the SNI sent; without one, or without a name, any certificate will do.
  if (o.ca === undefined || !o.servername) options.checkServerIdentity = () => undefined;
  return options;
}

function headersOf(raw: readonly string[]): TestHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    const had = headers[name];
    if (name === 'set-cookie') headers[name] = [...((had as string[] | undefined) ?? []), value];
    else headers[name] = had === undefined ? value : `${had}, ${value}`;
  }
  return headers;
}

export interface RawOptions {
  /** Speak TLS, accepting any certificate. */
  tls?: boolean;
  /** TLS: the server name sent (SNI). */
  servername?: string;
  /** Ends the exchange after this much silence (ms); default 2000. */
  waitMs?: number;
}

/** Writes `bytes` on a connection of its own and collects every byte until the server closes it (or `waitMs` of silence); one character per byte (latin1). */
async function rawExchange(port: number, bytes: string | Uint8Array, o: RawOptions = {}): Promise<string> {
  const socket = await connect(port, o.tls ? { servername: o.servername } : undefined);
  return new Promise((resolve, reject) => {
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.setTimeout(o.waitMs ?? 2000, () => socket.destroy());
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

export interface TlsConnectOptions {
  servername?: string;
  /** Accept only a certificate this CA (PEM) issued for `servername`; default: any certificate. */
  ca?: string;
  cert?: string;
  key?: string;
  ALPNProtocols?: string[];
}

/** A TCP connection to 127.0.0.1:`port`, or a TLS one (handshake done) when `secure` is given. */
function connect(port: number, secure?: TlsConnectOptions): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    if (secure) {
      const socket = tls.connect({ host: '127.0.0.1', port, ...tlsOptions(secure), ALPNProtocols: secure.ALPNProtocols }, () => resolve(socket));
      socket.once('error', reject);
    } else {
      const socket = net.connect(port, '127.0.0.1', () => resolve(socket));
      socket.once('error', reject);
    }
  });
}

/** Reads from `socket` until `text` has arrived (or it closes); everything read, one character per byte. */
export function readUntil(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let seen = '';
    const done = () => {
      socket.off('data', onData).off('close', done).off('error', reject);
      resolve(seen);
    };
    const onData = (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes(text)) done();
    };
    socket.on('data', onData).once('close', done).once('error', reject);
  });
}

/** A GET of `url` (http or https, any certificate) on a connection of its own: the stats listener, an origin, a master's frontend. */
export function get(url: string, headers: Record<string, string> = {}): Promise<TestResponse> {
  const u = new URL(url);
  const secure = u.protocol === 'https:';
  return send(Number(u.port) || (secure ? 443 : 80), { path: u.pathname + u.search, headers }, secure, false, u.hostname.replace(/^\[|\]$/g, ''));
}

/** What an `'echo'` origin answered: its name and the request as it arrived. */
export interface Echoed {
  origin: string;
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Reads the body of an `'echo'` origin's answer. */
export const echoed = (res: TestResponse): Echoed => JSON.parse(res.body) as Echoed;
