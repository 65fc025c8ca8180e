// The configuration's shape, the contract between users and the kernel. Each key says
// what it is for; `tapgate schema` exports it as JSON Schema for editors.
import { z } from 'zod';
import { durationPattern, parseAddress, parseDuration, parseSize, sizePattern } from './units.ts';

const Duration = z.union([z.number().nonnegative(), z.string().regex(durationPattern, 'expected a duration such as 250ms, 5s, 2m')]).transform(parseDuration);
const Size = z.union([z.number().int().nonnegative(), z.string().regex(sizePattern, 'expected a size such as 512, 64k, 1m')]).transform(parseSize);
const Address = z.string().refine((v) => parseAddress(v) !== undefined, {
  message: 'expected host:port, e.g. 127.0.0.1:8080, [::1]:8080 or *:8080',
});
const Name = z.string().regex(/^[A-Za-z0-9_.-]+$/, 'expected a name of letters, digits, "_", "-" or "."');

export const PluginRef = z.union([
  z.string().min(1),
  z.strictObject({
    /** A built-in plugin's name, a package name, or a file path relative to the config (./x.ts). */
    use: z.string().min(1),
    /** Options checked against the plugin's own schema. */
    options: z.record(z.string(), z.unknown()).optional(),
  }),
]);

const FrontendTimeouts = z.strictObject({
  /** Time allowed to receive a request's head (HAProxy: timeout http-request). */
  client_headers: Duration.optional(),
  /** Idle time allowed between chunks of a request body, or of a TCP session's client side. */
  client: Duration.optional(),
  /** Idle time of a keep-alive connection between requests (HAProxy: timeout http-keep-alive). */
  keepalive: Duration.optional(),
});

const BackendTimeouts = z.strictObject({
  /** Time a request may wait for a server slot when every server is at its maxconn (503 after). */
  queue: Duration.optional(),
  /** Time allowed to establish a connection to a server. */
  connect: Duration.optional(),
  /** Time allowed for the server to send a response head; in TCP mode, the server side's idle time. */
  server: Duration.optional(),
  /** Idle time allowed between chunks of a response body. */
  server_body: Duration.optional(),
  /** Idle time of a pooled keep-alive connection to a server. */
  server_keepalive: Duration.optional(),
  /** Idle time, both ways, of an upgraded connection (WebSocket...) after the server's 101 (HAProxy: timeout tunnel). */
  tunnel: Duration.optional(),
});

export const Server = z.strictObject({
  name: Name,
  address: Address,
  /** Share of traffic relative to the other servers; 0 takes none. */
  weight: z.number().int().min(0).max(256).default(1),
  /** Requests (http) or connections (tcp) at once on this server; 0 is no limit. */
  maxconn: z.number().int().nonnegative().default(0),
  /** After the server comes back (up again, out of maintenance), its weight ramps up over this time. */
  slowstart: Duration.default(0),
  /** Used only when every non-backup server is down. */
  backup: z.boolean().default(false),
  /** ready: takes traffic; drain: finishes what it has, takes no new; maint: nothing. */
  state: z.enum(['ready', 'drain', 'maint']).default('ready'),
  /** false: the backend's active health checks leave this server out (it counts as passing). */
  check: z.boolean().default(true),
  /** Speak TLS to this server (re-encryption); HTTP health checks of it use TLS too. */
  ssl: z.boolean().default(false),
  /** With ssl: check the server's certificate chain and name (default true). */
  verify: z.boolean().optional(),
  /** With ssl: the CA file (PEM) the server's certificate is checked against, relative to the config; Node's roots when absent. */
  ca: z.string().min(1).optional(),
  /** With ssl: the name sent by SNI and checked in the certificate; default the address host when it is a name (an IP is checked against IP SANs). */
  sni: z.string().min(1).optional(),
});

const PositiveDuration = z
  .union([
    z.number().positive(),
    z
      .string()
      .regex(durationPattern, 'expected a duration such as 250ms, 5s, 2m')
      .refine((v) => !durationPattern.test(v) || parseDuration(v) > 0, 'expected a duration above 0'),
  ])
  .transform(parseDuration);

const statusPattern = /^\s*\d{3}(\s*-\s*\d{3})?(\s*,\s*\d{3}(\s*-\s*\d{3})?)*\s*$/;
/** Statuses as codes and ranges, `200-399` or `200,204,300-399`, as [low, high] pairs. */
const StatusRanges = z
  .union([
    z.number().int().min(100).max(599),
    z
      .string()
      .regex(statusPattern, 'expected statuses such as 200, "200-399" or "200,204,300-399"')
      .refine(
        (v) => !statusPattern.test(v) || statusRanges(v).every(([lo, hi]) => lo >= 100 && hi <= 599 && lo <= hi),
        'expected statuses from 100 to 599, each range low-high',
      ),
  ])
  .transform((v) => statusRanges(String(v)));

const HttpCheck = z.strictObject({
  /** Request method of the check. */
  method: z
    .string()
    .regex(/^[A-Z]+$/, 'expected a method in capitals, e.g. GET or HEAD')
    .default('GET'),
  /** Path (and query) requested. */
  path: z
    .string()
    .regex(/^\/\S*$/, 'expected a path starting with "/", without spaces')
    .default('/health'),
  /** Statuses that pass. */
  expect_status: StatusRanges.default([[200, 399]]),
  /** Text the body must contain, or a /regex/flags it must match; the body is not read without it. */
  expect_body: z.string().min(1).refine(isBodyPattern, 'expected text, or a valid /regex/flags').optional(),
  /** Host header sent; the server's address without it. */
  host: z.string().regex(/^\S+$/, 'expected a host name, without spaces').optional(),
});

const HealthCheck = z
  .strictObject({
    /** tcp: a connection opens; http: a request gets an expected answer. Default: http when an `http` block is given, else tcp. */
    type: z.enum(['tcp', 'http']).optional(),
    /** Time between the end of one check of a server and the start of the next. */
    interval: PositiveDuration.default(2_000),
    /** A check with no result by then fails. */
    timeout: PositiveDuration.default(1_000),
    /** Passing checks in a row that bring a server back. */
    rise: z.number().int().min(1).max(100).default(2),
    /** Failing checks in a row that take a server out (one, until its first pass). */
    fall: z.number().int().min(1).max(100).default(3),
    http: HttpCheck.optional(),
  })
  .superRefine((h, ctx) => {
    if (h.type === 'tcp' && h.http) ctx.addIssue({ code: 'custom', path: ['type'], input: h.type, message: 'expected "http", since an http block is given' });
  })
  .transform(({ type, http, ...rest }) => {
    const t = type ?? (http ? 'http' : 'tcp');
    return { ...rest, type: t, http: t === 'http' ? (http ?? HttpCheck.parse({})) : undefined };
  });

const PassiveHealth = z.strictObject({
  /** Failed requests in a row (no connection, a 5xx, a broken answer) that eject a server. */
  consecutive_errors: z.number().int().min(1).default(5),
  /** How long an ejected server gets no traffic before it is tried again. */
  eject_for: PositiveDuration.default(10_000),
});

/**
 * One route of a frontend: when its `match` holds, its backend serves and its own
 * plugins run after the frontend's. Routes are tried in order; `match` is checked
 * against the matcher kinds the plugins bring.
 */
export const Route = z.strictObject({
  /** Shown in logs, stats and `tapgate explain`; default `#<index>`. */
  name: Name.optional(),
  /** Conditions: matcher kinds as keys (all must hold), or `all`, `any`, `not`. Absent: always. */
  match: z.record(z.string(), z.unknown()).optional(),
  /** The backend for requests on this route; the frontend's `default_backend` when absent. */
  backend: Name.optional(),
  /** TCP mode: hand the connection (and the bytes already read) to this frontend of the same gateway. */
  frontend: Name.optional(),
  /** Plugins that run only on this route, after the frontend's. */
  plugins: z.array(PluginRef).default([]),
});

const TlsCertificate = z.strictObject({
  /** PEM certificate (the chain may follow it), relative to the config. */
  cert: z.string().min(1),
  /** Its PEM private key, unencrypted. */
  key: z.string().min(1),
  /** Host names (exact, or `*.example.com`) this certificate is chosen for by SNI, instead of the names it carries. */
  names: z.array(z.string().min(1)).min(1).optional(),
});

/** TLS termination on a frontend. */
const FrontendTls = z.strictObject({
  /** Chosen by the client's SNI name; the first is the default when no name matches. */
  certificates: z.array(TlsCertificate).min(1, 'expected at least one certificate'),
  /** Oldest protocol version accepted. */
  min_version: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** OpenSSL cipher list; Node's defaults when absent. */
  ciphers: z.string().min(1).optional(),
  /** Protocols offered by ALPN, in preference order; default [h2, http/1.1] in http mode, none in tcp mode. */
  alpn: z.array(z.string().min(1).max(255)).optional(),
  /** PEM CA file that client certificates are checked against (mutual TLS). */
  client_ca: z.string().min(1).optional(),
  /** none: no client certificate asked; optional: asked, checked, not required; required: refused without a valid one. Default required when client_ca is given. */
  client_verify: z.enum(['none', 'optional', 'required']).optional(),
});

export const Frontend = z
  .strictObject({
    /** Address(es) to listen on. Absent: the frontend only serves connections handed to it by a tcp frontend's route. */
    bind: z.union([Address, z.array(Address).min(1)]).optional(),
    mode: z.enum(['http', 'tcp']).default('http'),
    /** The backend used when no route chooses one. */
    default_backend: Name.optional(),
    /** Content switching: tried in order, the first route whose `match` holds is taken. */
    routes: z.array(Route).default([]),
    /** TCP mode: how long to wait for a client's first bytes when a route needs them (sni, protocol...); silent clients then take the default. */
    inspect_delay: Duration.default(5_000),
    /** The plugin chain for this frontend, after the gateway-wide one. */
    plugins: z.array(PluginRef).default([]),
    /** Connections at once on this frontend (per worker); 0 is no limit. */
    maxconn: z.number().int().nonnegative().default(0),
    timeouts: FrontendTimeouts.default({}),
    limits: z
      .strictObject({
        /** Largest request head accepted (431 above). */
        max_header_size: Size.default(16 * 1024),
        /** Largest request body accepted (413 above); 0 is no limit. */
        max_body_size: Size.default(0),
        /** HTTP/2: streams a client may have open at once on one connection (SETTINGS_MAX_CONCURRENT_STREAMS). */
        h2_max_concurrent_streams: z
          .number()
          .int()
          .min(1)
          .max(2 ** 31 - 1)
          .default(100),
        /** HTTP/2: streams a client may reset in one second before its connection is closed (rapid reset, CVE-2023-44487). */
        h2_max_resets_per_second: z.number().int().min(1).default(100),
      })
      .default({ max_header_size: 16 * 1024, max_body_size: 0, h2_max_concurrent_streams: 100, h2_max_resets_per_second: 100 }),
    forwarded: z
      .strictObject({
        /** Append the client address to X-Forwarded-For. */
        xff: z.boolean().default(true),
        /** Set X-Forwarded-Proto and X-Forwarded-Host. */
        proto_host: z.boolean().default(true),
        /** Add a Via header with this pseudonym (RFC 9110 7.6.3); off when absent. */
        via: z.string().optional(),
      })
      .default({ xff: true, proto_host: true }),
    /** Terminate TLS on this frontend's binds. */
    tls: FrontendTls.optional(),
    /** Cleartext HTTP/2 with prior knowledge (h2c) besides HTTP/1.x, for internal traffic; with `tls`, ALPN chooses h2 instead. */
    h2c: z.boolean().default(false),
    /**
     * HTTP/2 connections (h2 by ALPN, or h2c) keep RFC 9113's frame rules that node's own
     * session does not (frames on closed streams, stream ids that go back, unsolicited PING
     * ACKs, windows past 2^31-1): every frame is read in JavaScript before the session. false
     * hands the connection to node's session directly, faster and looser (see the README).
     */
    h2_strict_frames: z.boolean().default(true),
  })
  .superRefine((fe, ctx) => {
    if (!fe.h2c) return;
    if (fe.mode === 'tcp')
      ctx.addIssue({ code: 'custom', path: ['h2c'], input: fe.h2c, message: 'h2c applies to http frontends; a tcp frontend passes HTTP/2 through as bytes' });
    else if (fe.tls)
      ctx.addIssue({ code: 'custom', path: ['h2c'], input: fe.h2c, message: 'h2c is cleartext HTTP/2; with tls, clients choose h2 by ALPN (tls.alpn)' });
  });

export const Backend = z.strictObject({
  /** Follows the frontends that use it; set it to check that they agree. */
  mode: z.enum(['http', 'tcp']).optional(),
  /** HTTP mode: what the gateway speaks to the servers: h1 (HTTP/1.1), or h2 (HTTP/2: h2c, or h2 by ALPN with ssl); grpc is h2. */
  protocol: z.enum(['h1', 'h2', 'grpc']).default('h1'),
  /** A balancing algorithm a plugin brings: `name` or `name(argument)`. */
  balance: z.string().min(1).default('roundrobin'),
  /** Options for the balancing algorithm, checked by its own schema. */
  balance_options: z.record(z.string(), z.unknown()).default({}),
  servers: z.array(Server).min(1, 'expected at least one server'),
  timeouts: BackendTimeouts.default({}),
  /** Further servers tried when a connection to one fails (requests that have sent no body). */
  retries: z.number().int().min(0).max(10).default(2),
  /** Active health checks of every server; off when absent. */
  health: HealthCheck.optional(),
  /** Outlier detection from real traffic (HTTP): failing servers are ejected for a while; false turns it off. */
  passive: z.union([z.literal(false), PassiveHealth]).default({ consecutive_errors: 5, eject_for: 10_000 }),
});

export const GatewayConfig = z.strictObject({
  /** Worker processes: a number, or auto for one per core; 0 runs one in-process worker. */
  workers: z.union([z.literal('auto'), z.number().int().min(0).max(256)]).default('auto'),
  log: z
    .strictObject({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** Access log: true (stdout), false, or a file path. */
      access: z.union([z.boolean(), z.string().min(1)]).default(true),
      /** Share of ordinary requests written to the access log (errors and 5xx always are). */
      sample: z.number().gt(0, 'expected a share above 0, e.g. 0.1').max(1, 'expected a share of at most 1').default(1),
    })
    .default({ level: 'info', access: true, sample: 1 }),
  /** Where `tapgate reload|stop|status` reach the running master; relative to the config file. */
  control: z
    .strictObject({
      /** Unix socket of the control channel (default .tapgate/control.sock). */
      socket: z.string().min(1).default('.tapgate/control.sock'),
      /** File holding the master's pid (default .tapgate/tapgate.pid). */
      pid_file: z.string().min(1).default('.tapgate/tapgate.pid'),
    })
    .default({ socket: '.tapgate/control.sock', pid_file: '.tapgate/tapgate.pid' }),
  /**
   * The stats listener: the stats page, JSON, CSV and Prometheus metrics (from plugins on
   * `app.admin`) and the runtime API under `/api/`. Off when absent.
   */
  stats: z
    .strictObject({
      /** Where it listens; loopback unless `token` or `basic_auth` protects it. */
      bind: Address,
      /** Every request must carry `Authorization: Bearer <token>`. */
      token: z.string().min(16, 'expected a token of at least 16 characters').optional(),
      /** Every request must carry HTTP basic credentials. */
      basic_auth: z.strictObject({ user: z.string().min(1), password: z.string().min(8, 'expected a password of at least 8 characters') }).optional(),
      /** The runtime API's writes (server state and weight, reload); false leaves it read-only. */
      admin: z.boolean().default(true),
    })
    .optional(),
  /** After a graceful stop or reload begins, connections still open this long are closed. */
  hard_stop_after: Duration.default(30_000),
  /**
   * A reload in place: how long each worker may take to build the new generation beside the
   * one it serves (plugins' setup included). Past it the reload is refused, every worker drops
   * the new generation and the serving one goes on. The new configuration's value counts; 0
   * waits as long as it takes.
   */
  prepare_timeout: Duration.default(10_000),
  /** What a plugin tap may cost: over `slow`, it is reported (log, plugin_tap_slow_total); an async tap on a request's path past `timeout` fails that request (500). 0 turns either off. */
  plugin_budget: z
    .strictObject({
      slow: Duration.default(50),
      timeout: Duration.default(30_000),
    })
    .default({ slow: 50, timeout: 30_000 }),
  /** Plugins for every frontend, set up once per generation. */
  plugins: z.array(PluginRef).default([]),
  /** Timeouts every frontend and backend starts from. */
  defaults: z
    .strictObject({
      timeouts: z.strictObject({ ...FrontendTimeouts.shape, ...BackendTimeouts.shape }).default({}),
    })
    .default({ timeouts: {} }),
  frontends: z.record(Name, Frontend).refine((v) => Object.keys(v).length > 0, 'expected at least one frontend'),
  backends: z.record(Name, Backend).default({}),
});

function statusRanges(v: string): [number, number][] {
  return v.split(',').map((part) => {
    const [lo, hi = lo] = part.split('-').map(Number);
    return [lo!, hi!];
  });
}

/** `/regex/flags` that compiles, or any other text. */
function isBodyPattern(v: string): boolean {
  const m = /^\/(.*)\/([a-z]*)$/s.exec(v);
  if (!m) return true;
  try {
    new RegExp(m[1]!, m[2]);
    return true;
  } catch {
    return false;
  }
}

export type GatewayConfigInput = z.input<typeof GatewayConfig>;
export type GatewayConfig = z.output<typeof GatewayConfig>;
export type FrontendConfig = z.output<typeof Frontend>;
export type BackendConfig = z.output<typeof Backend>;
export type ServerConfig = z.output<typeof Server>;
export type PluginRefConfig = z.output<typeof PluginRef>;
export type RouteConfig = z.output<typeof Route>;
export type FrontendTlsConfig = z.output<typeof FrontendTls>;

/** Timeouts in ms when neither the section nor `defaults` sets them. */
export const defaultTimeouts = {
  queue: 5_000,
  client_headers: 10_000,
  client: 30_000,
  keepalive: 5_000,
  connect: 5_000,
  server: 30_000,
  server_body: 30_000,
  server_keepalive: 4_000,
  tunnel: 3_600_000,
} as const;
