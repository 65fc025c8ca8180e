// Every metric the stats plugin keeps, declared once: its name (Prometheus adds the
// `tapgate_` prefix), kind, labels and help. The counting (counting.ts) creates them
// from here and the reports (report.ts) read them back by the same names; the README's
// metrics table lists the same rows.
import { latencyBuckets, type GaugeMerge } from '../../sdk/index.ts';

export type Kind = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  readonly name: string;
  readonly kind: Kind;
  readonly labels: readonly string[];
  readonly help: string;
  /** Gauges: how workers combine (current values add up, peaks take the max). */
  readonly merge?: GaugeMerge;
  /** Histograms: bucket upper bounds in seconds. */
  readonly buckets?: readonly number[];
}

/** Response classes, by status / 100; `other`: no status sent (the client left first) or outside 100-599. */
export const responseClasses = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'] as const;
export type ResponseClass = (typeof responseClasses)[number];

/** 0..4 for 1xx..5xx, 5 for the rest. */
export const classIndex = (status: number): number => (status >= 100 && status < 600 ? ((status / 100) | 0) - 1 : 5);

/** Server statuses, as HAProxy names them. */
export const serverStatuses = ['UP', 'DOWN', 'DRAIN', 'MAINT', 'NOLB'] as const;
export type ServerStatus = (typeof serverStatuses)[number];

const F = ['frontend'];
const R = ['frontend', 'route'];
const B = ['backend'];
const S = ['backend', 'server'];
const c = (name: string, labels: string[], help: string): MetricDef => ({ name, kind: 'counter', labels, help });
const g = (name: string, labels: string[], merge: GaugeMerge, help: string): MetricDef => ({ name, kind: 'gauge', labels, merge, help });
const h = (name: string, labels: string[], help: string): MetricDef => ({ name, kind: 'histogram', labels, buckets: latencyBuckets, help });

/** A session is one HTTP request, or one TCP connection that was routed (not handed to another frontend). */
export const M = {
  feConnections: c('frontend_connections_total', F, 'Client connections that arrived (counted before accept taps decide)'),
  feSessions: c('frontend_sessions_total', F, 'Sessions ended: HTTP requests, or TCP sessions'),
  feCurrent: g('frontend_sessions_current', F, 'sum', 'Sessions in progress: HTTP requests being served, TCP sessions connected to a server'),
  feMax: g('frontend_sessions_max', F, 'max', 'Most sessions in progress at once in one worker, in this generation'),
  feBytesIn: c('frontend_bytes_in_total', F, 'Bytes from clients (TCP sessions and HTTP upgrades)'),
  feBytesOut: c('frontend_bytes_out_total', F, 'Bytes to clients (response bodies in HTTP)'),
  feResponses: c('frontend_responses_total', [...F, 'code'], 'HTTP responses by class: 1xx to 5xx, other (none sent)'),
  feErrors: c('frontend_errors_total', F, 'Sessions that ended with an error (malformed request, plugin failure, no server, server error, client abort)'),
  feDenied: c('frontend_denied_total', F, 'HTTP requests a plugin refused with 401, 403 or 429 before any server'),
  feVersions: c('frontend_http_requests_total', [...F, 'version'], 'HTTP requests by the version the client spoke: 1.0, 1.1 or 2.0'),
  feSeconds: h('frontend_session_seconds', F, 'Duration of HTTP requests (head read to response sent) and TCP sessions'),

  routeSessions: c('route_sessions_total', R, 'Sessions that took the route (default: the frontend fallback)'),
  routeResponses: c('route_responses_total', [...R, 'code'], 'HTTP responses by class, per route'),

  beSessions: c('backend_sessions_total', B, 'Sessions sent to the backend'),
  beCurrent: g('backend_sessions_current', B, 'sum', "Sessions in flight on the backend's servers"),
  beMax: g('backend_sessions_max', B, 'max', "Most sessions in flight at once on the backend's servers, in one worker, this generation"),
  beQueueCurrent: g('backend_queue_current', B, 'sum', 'Requests waiting for a server slot (every server at its maxconn)'),
  beQueueMax: g('backend_queue_max', B, 'max', 'Most requests waiting at once, in one worker, this generation'),
  beBytesIn: c('backend_bytes_in_total', B, 'Bytes from clients, of sessions sent to the backend'),
  beBytesOut: c('backend_bytes_out_total', B, 'Bytes to clients, of sessions sent to the backend'),
  beResponses: c('backend_responses_total', [...B, 'code'], 'HTTP responses by class, of requests sent to the backend'),
  beConnectionErrors: c('backend_connection_errors_total', B, 'Connections to servers that failed (each retry counts)'),
  beResponseErrors: c('backend_response_errors_total', B, 'Exchanges a server broke or did not answer in time (502, 504, reset)'),
  beRetries: c('backend_retries_total', B, "Retries after a failed connection, each on another server (HAProxy's redispatches)"),
  beQueueSeconds: h('backend_queue_seconds', B, 'Time waiting for a server slot, of the sessions that waited'),
  beConnectSeconds: h(
    'backend_connect_seconds',
    B,
    'Time to connect to a server: TCP, from accept until the server connection was up; HTTP, each new pooled connection (TLS included)',
  ),
  beTtfbSeconds: h('backend_ttfb_seconds', B, "HTTP: time from the request head until the server's response head"),
  beSeconds: h('backend_session_seconds', B, 'Duration of requests and TCP sessions sent to the backend'),

  svSessions: c('server_sessions_total', S, 'Sessions whose (last) server was this one'),
  svCurrent: g('server_sessions_current', S, 'sum', 'Sessions in flight on the server'),
  svMax: g('server_sessions_max', S, 'max', 'Most sessions in flight at once on the server, in one worker, this generation'),
  svBytesIn: c('server_bytes_in_total', S, 'Bytes from clients, of sessions on the server'),
  svBytesOut: c('server_bytes_out_total', S, 'Bytes to clients, of sessions on the server'),
  svResponses: c('server_responses_total', [...S, 'code'], 'HTTP responses by class, from the server'),
  svConnectionErrors: c('server_connection_errors_total', S, 'Failed connections to the server, every try counted (a retry that then succeeded elsewhere too)'),
  svResponseErrors: c('server_response_errors_total', S, 'Exchanges the server broke or did not answer in time'),
  svTtfbSeconds: h('server_ttfb_seconds', S, "HTTP: time from the request head until the server's response head"),
  svConnectSeconds: h(
    'server_connect_seconds',
    S,
    'Time to connect to the server: TCP, from accept until the server connection was up; HTTP, each new pooled connection (TLS included)',
  ),
  svStatus: g('server_status', [...S, 'status'], 'max', "1 for the server's status (UP, DOWN, DRAIN, MAINT, NOLB), 0 for the others"),
  svWeight: g('server_weight', S, 'max', "The server's weight (0: no new traffic)"),
  svCheckSeconds: g('server_check_duration_seconds', S, 'max', 'How long the last active health check took'),
  svDowntime: g('server_downtime_seconds', S, 'max', 'Time the server was down by health checks or ejection, this generation'),
} as const satisfies Record<string, MetricDef>;

/** The kernel's own: every plugin tap, timed by plugin and hook. */
export const pluginTapSeconds = 'plugin_tap_seconds';
export const pluginTapErrors = 'plugin_tap_errors_total';
export const pluginTapSlow = 'plugin_tap_slow_total';
