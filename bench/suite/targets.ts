// What the suite measures: the origins and every target (direct, HAProxy, nginx, fastify,
// tapgate with its plugin and route variants), each as a config written into the work
// directory and a command started pinned to its cores.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { startPinned, waitReady, type Proc } from './procs.ts';

/** Ports: origins, the echo origin, then one listener per mode; `twin`: a second target running beside the first (interleaved runs). */
export interface Ports {
  origin1: number;
  origin2: number;
  echo: number;
  http: number;
  tls: number;
  tcp: number;
  stats: number;
  twin: number;
  /** Where HAProxy as usually run sends its log lines (a sink that reads and drops them). */
  syslog: number;
}
export function ports(base: number): Ports {
  return {
    origin1: base + 1,
    origin2: base + 2,
    echo: base + 3,
    http: base + 10,
    tls: base + 11,
    tcp: base + 12,
    stats: base + 13,
    twin: base + 14,
    syslog: base + 15,
  };
}

export interface Context {
  root: string;
  run: string;
  ports: Ports;
  /** Cores of a one-core target; of an N-core target; of the load side (wrk, origins). */
  proxyCpus: string;
  allCpus: string;
  loadCpus: string;
  /** N of the N-worker / N-thread variants. */
  n: number;
  jwtToken: string;
}

export type Kind = 'direct' | 'haproxy' | 'nginx' | 'fastify' | 'tapgate';

export interface Target {
  id: string;
  label: string;
  kind: Kind;
  /** Processes or threads serving: HAProxy nbthread, nginx worker_processes, tapgate `workers` (0: in-process). */
  workers: number;
  /** Pinned to every core ("all") or to the proxy core alone. */
  cores: 'one' | 'all';
  /** tapgate only: the frontend's plugin list (YAML flow items) and a `stats:` listener. */
  plugins?: string[];
  statsListener?: boolean;
  /** tapgate only: this many host routes ahead of the default backend. */
  routes?: number;
  /** The path requested in the plugin scenarios (default /cached, which the cache may store). */
  path?: string;
  /** http mode: listen here instead of the suite's http port (a second target running at the same time). */
  port?: number;
  /**
   * As users run it. tapgate: the default configuration (`workers` left out: auto, one
   * worker process per core it is pinned to; the access log to a file; X-Forwarded-* added). HAProxy: every request logged
   * (`option httplog`, UDP syslog to a sink) and `option forwardfor`: the fair anchor for it.
   */
  asUsed?: boolean;
  /** tapgate only: the access log to a file, and X-Forwarded-* added, alone (asUsed has both). */
  accessLog?: boolean;
  forwarded?: boolean;
}

/** The HTTP targets compared side by side. */
export function httpTargets(n: number): Target[] {
  return [
    { id: 'direct', label: 'direct (origin, no proxy)', kind: 'direct', workers: 0, cores: 'one' },
    { id: 'haproxy-1', label: 'HAProxy nbthread 1', kind: 'haproxy', workers: 1, cores: 'one' },
    { id: 'nginx-1', label: 'nginx 1 worker', kind: 'nginx', workers: 1, cores: 'one' },
    { id: 'fastify', label: 'fastify + @fastify/http-proxy', kind: 'fastify', workers: 1, cores: 'one' },
    { id: 'haproxy-used', label: 'HAProxy nbthread 1 as usually run (httplog to syslog, forwardfor)', kind: 'haproxy', workers: 1, cores: 'one', asUsed: true },
    {
      id: 'tapgate-default',
      label: 'tapgate, default configuration (1 worker, access log, X-Forwarded-*)',
      kind: 'tapgate',
      workers: 1,
      cores: 'one',
      asUsed: true,
    },
    { id: 'tapgate-1', label: 'tapgate workers: 0, access log and X-Forwarded-* off (tuned)', kind: 'tapgate', workers: 0, cores: 'one' },
    { id: `haproxy-${n}`, label: `HAProxy nbthread ${n}`, kind: 'haproxy', workers: n, cores: 'all' },
    { id: `nginx-${n}`, label: `nginx ${n} workers`, kind: 'nginx', workers: n, cores: 'all' },
    { id: `tapgate-${n}`, label: `tapgate workers: ${n}, otherwise the default configuration`, kind: 'tapgate', workers: n, cores: 'all', asUsed: true },
  ];
}

/** The tapgate variants, each measured against tapgate without plugins in the same round. */
export function pluginTargets(): Target[] {
  const t = (id: string, label: string, extra: Partial<Target>): Target => ({ id, label, kind: 'tapgate', workers: 0, cores: 'one', ...extra });
  return [
    t('base', 'no plugins (baseline)', {}),
    t('cache', 'cache (every request a HIT)', { plugins: ['{ use: cache, options: { max_size: 64m } }'] }),
    t('jwt', 'jwt (ES256 token, remembered: the default)', { plugins: [JWT] }),
    t('rate-limit', 'rate-limit (sliding window, local store)', { plugins: [RATE_LIMIT] }),
    t('stats', 'stats listener on, /stats.json read every second', { statsListener: true }),
    // What the default configuration adds to the baseline, each alone (issue 24's costs).
    t('log', 'access log to a file (on by default)', { accessLog: true }),
    t('xff', 'X-Forwarded-For, -Proto and -Host added (on by default)', { forwarded: true }),
    t('chain5', 'chain of five: stats + rate-limit + jwt + cache + rewrite', {
      statsListener: true,
      plugins: [RATE_LIMIT, JWT, '{ use: cache, options: { max_size: 64m } }', REWRITE],
    }),
    t('chain5-miss', 'the same chain of five, the response not cacheable (no-store): every request proxied', {
      statsListener: true,
      path: '/nostore',
      plugins: [RATE_LIMIT, JWT, '{ use: cache, options: { max_size: 64m } }', REWRITE],
    }),
    t('routes10', '10 host routes (switch), the last one matching', { routes: 10 }),
    t('routes1000', '1,000 host routes (switch), the last one matching', { routes: 1000 }),
  ];
}
const JWT = '{ use: jwt, options: { keys: [{ file: es256.pem, kid: bench }], issuer: "https://id.example.com", audience: bench } }';
const RATE_LIMIT = '{ use: rate-limit, options: { limit: 1000000000, window: 1h, store: local } }';
const REWRITE = '{ use: rewrite, options: { request_headers: { set: { x-bench: "1" } }, response_headers: { set: { x-served-by: tapgate } } } }';

/** The TLS termination targets and the TCP mode ones. */
export function tlsTargets(): Target[] {
  return httpTargets(2).filter((t) => ['haproxy-used', 'tapgate-default', 'haproxy-1', 'nginx-1', 'tapgate-1'].includes(t.id));
}
export function tcpTargets(): Target[] {
  return [
    { id: 'direct', label: 'direct (echo origin, no proxy)', kind: 'direct', workers: 0, cores: 'one' },
    { id: 'haproxy-1', label: 'HAProxy nbthread 1, mode tcp', kind: 'haproxy', workers: 1, cores: 'one' },
    { id: 'tapgate-1', label: 'tapgate workers: 0, mode tcp', kind: 'tapgate', workers: 0, cores: 'one' },
  ];
}

/** Files shared by every round: the origins' bodies, the TLS certificate, the JWT key. */
export async function prepare(c: Omit<Context, 'jwtToken'>): Promise<string> {
  for (const d of ['www', 'tls', 'temp', 'logs', 'lua', 'conf']) mkdirSync(join(c.run, d), { recursive: true });
  writeFileSync(join(c.run, 'www/64k'), Buffer.alloc(64 * 1024, 'x'));
  writeFileSync(join(c.run, 'www/1m'), Buffer.alloc(1024 * 1024, 'x'));
  // A self-signed ECDSA P-256 certificate for 127.0.0.1 and localhost, made afresh each run.
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost,IP:127.0.0.1',
      '-keyout',
      join(c.run, 'tls/key.pem'),
      '-out',
      join(c.run, 'tls/cert.pem'),
    ],
    { stdio: 'ignore' },
  );
  execFileSync('sh', ['-c', `cat "${c.run}/tls/cert.pem" "${c.run}/tls/key.pem" > "${c.run}/tls/combined.pem"`]);
  // The JWT key pair (jose, as the jwt plugin uses) and one token valid for the run.
  const { exportSPKI, generateKeyPair, SignJWT } = await import('jose');
  const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
  writeFileSync(join(c.run, 'conf/es256.pem'), await exportSPKI(publicKey));
  return new SignJWT({ sub: 'bench', iss: 'https://id.example.com', aud: 'bench' })
    .setProtectedHeader({ alg: 'ES256', kid: 'bench' })
    .setIssuedAt()
    .setExpirationTime('6h')
    .sign(privateKey);
}

const user = () => `${os.userInfo().username} ${execFileSync('id', ['-gn']).toString().trim()}`;
const nginxCommon = (run: string, name: string) =>
  [
    ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((d) => `  ${d}_temp_path ${run}/temp/${name}-${d};`),
    '  access_log off;',
    '  keepalive_requests 1000000;',
    '  keepalive_timeout 60s;',
  ].join('\n');

/** The two nginx origins (one process, both ports) and the TCP echo origin, on the load cores. */
export async function startOrigins(c: Context): Promise<Proc[]> {
  const conf = join(c.run, 'conf/origin.conf');
  writeFileSync(
    conf,
    `user ${user()};
daemon off;
worker_processes 1;
pid ${c.run}/origin.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
${nginxCommon(c.run, 'origin')}
  default_type text/plain;
  sendfile on;
  open_file_cache max=16 inactive=60s;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${c.ports.origin1};
    listen 127.0.0.1:${c.ports.origin2};
    location = /       { return 200 "hello\\n"; }
    location = /cached { add_header Cache-Control "public, max-age=3600"; return 200 "hello\\n"; }
    location = /64k    { root ${c.run}/www; }
    location = /1m     { root ${c.run}/www; }
    # Reads the whole body (request buffering, in memory) before it answers, as an
    # application would: answering early makes proxies close the client connection.
    location = /upload {
      client_body_buffer_size 2m;
      proxy_pass http://origin_self/ok;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
    location = /ok     { return 200 "ok\\n"; }
    location = /nostore { add_header Cache-Control "no-store"; return 200 "hello\\n"; }
  }
  upstream origin_self { server 127.0.0.1:${c.ports.origin2}; keepalive 16; }
}
`,
  );
  const nginx = startPinned('origin', c.loadCpus, ['nginx', '-e', 'stderr', '-p', c.run, '-c', conf], join(c.run, 'logs/origin.log'));
  const echo = startPinned(
    'echo',
    c.loadCpus,
    [process.execPath, join(import.meta.dirname, 'echo.mjs'), 'server', String(c.ports.echo)],
    join(c.run, 'logs/echo.log'),
  );
  // HAProxy as usually run logs every request over UDP syslog: this reads the lines and drops them.
  const syslog = startPinned(
    'syslog',
    c.loadCpus,
    [process.execPath, '-e', `require('node:dgram').createSocket('udp4').on('message', () => {}).bind(${c.ports.syslog}, '127.0.0.1')`],
    join(c.run, 'logs/syslog.log'),
  );
  await waitReady(nginx, c.ports.origin1);
  await waitReady(nginx, c.ports.origin2);
  await waitReady(echo, c.ports.echo);
  return [nginx, echo, syslog];
}

export type Mode = 'http' | 'tls' | 'tcp';

/** The port to load for `t` in `mode`. */
export function portOf(c: Context, t: Target, mode: Mode): number {
  if (t.kind === 'direct') return mode === 'tcp' ? c.ports.echo : c.ports.origin1;
  if (t.port !== undefined && mode === 'http') return t.port;
  return mode === 'tls' ? c.ports.tls : mode === 'tcp' ? c.ports.tcp : c.ports.http;
}

/** Starts `t` for `mode` pinned to its cores; resolves once it serves (undefined for direct). */
export async function startTarget(c: Context, t: Target, mode: Mode, extraEnv: NodeJS.ProcessEnv = {}): Promise<Proc | undefined> {
  if (t.kind === 'direct') return undefined;
  const cpus = t.cores === 'all' ? c.allCpus : c.proxyCpus;
  const port = portOf(c, t, mode);
  const name = `${t.id}${t.port !== undefined ? `-${t.port}` : ''}-${mode}`;
  const log = join(c.run, `logs/${name}.log`);
  const conf = join(c.run, `conf/${name}`);
  const env = { ...process.env, LISTEN_PORT: String(port), ORIGIN1_PORT: String(c.ports.origin1), ORIGIN2_PORT: String(c.ports.origin2) };
  let proc: Proc;
  switch (t.kind) {
    case 'haproxy':
      writeFileSync(`${conf}.cfg`, haproxyConfig(c, t, mode, port));
      proc = startPinned(t.id, cpus, ['haproxy', '-db', '-f', `${conf}.cfg`], log);
      break;
    case 'nginx':
      writeFileSync(`${conf}.conf`, nginxConfig(c, t, mode, port));
      proc = startPinned(t.id, cpus, ['nginx', '-e', 'stderr', '-p', c.run, '-c', `${conf}.conf`], log);
      break;
    case 'fastify':
      proc = startPinned(t.id, cpus, [process.execPath, join(import.meta.dirname, 'fastify-proxy.mjs')], log, { env });
      break;
    case 'tapgate':
      writeFileSync(`${conf}.yaml`, tapgateConfig(c, t, mode, port));
      proc = startPinned(t.id, cpus, [...tapgateCommand(c.root), 'run', '-c', `${conf}.yaml`], log, { cwd: c.root, env: { ...process.env, ...extraEnv } });
      await waitReady(proc, port, 60_000, 'tapgate serving');
      return proc;
  }
  await waitReady(proc, port);
  return proc;
}

/**
 * tapgate as it is shipped: the gateway binary (`npm run build:binary`, built by the suite
 * before it measures), so no TypeScript loader runs beside it; BENCH_TAPGATE=source runs
 * bin/tapgate.mjs through tsx instead.
 */
export function tapgateCommand(root: string): string[] {
  const binary = join(root, 'dist/tapgate');
  if (process.env.BENCH_TAPGATE !== 'source' && existsSync(binary)) return [binary];
  return [process.execPath, join(root, 'bin/tapgate.mjs')];
}

function haproxyConfig(c: Context, t: Target, mode: Mode, port: number): string {
  const tcp = mode === 'tcp';
  const logged = t.asUsed && !tcp;
  return `global
  nbthread ${t.workers}
  maxconn 4096
${logged ? `  log 127.0.0.1:${c.ports.syslog} local0 info\n` : ''}
defaults
  mode ${tcp ? 'tcp' : 'http'}
${logged ? '  log global\n  option httplog\n  option forwardfor\n' : ''}  timeout connect 5s
  timeout client 30s
  timeout server 30s

frontend fe
  bind 127.0.0.1:${port}${mode === 'tls' ? ` ssl crt ${c.run}/tls/combined.pem` : ''}
  default_backend be

backend be
${
  tcp
    ? `  server echo 127.0.0.1:${c.ports.echo}`
    : `  balance roundrobin
  http-reuse always
  server origin1 127.0.0.1:${c.ports.origin1}
  server origin2 127.0.0.1:${c.ports.origin2}`
}
`;
}

function nginxConfig(c: Context, t: Target, mode: Mode, port: number): string {
  const tls = mode === 'tls' ? ` ssl;\n    ssl_certificate ${c.run}/tls/cert.pem;\n    ssl_certificate_key ${c.run}/tls/key.pem` : '';
  return `daemon off;
worker_processes ${t.workers};
pid ${c.run}/${t.id}-${mode}.pid;
error_log stderr warn;
events { worker_connections 8192; }
http {
${nginxCommon(c.run, t.id)}
  client_max_body_size 0;
  upstream origins {
    server 127.0.0.1:${c.ports.origin1};
    server 127.0.0.1:${c.ports.origin2};
    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port}${tls};
    location / {
      proxy_pass http://origins;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      # stream bodies both ways, as HAProxy and the Node proxies do (no temp files)
      proxy_request_buffering off;
      proxy_buffering off;
    }
  }
}
`;
}

function tapgateConfig(c: Context, t: Target, mode: Mode, port: number): string {
  const lines = [
    '# Written by bench/suite.ts; overwritten on every run.',
    // As used: `workers` left to its default (auto: one per core it may run on, so 1 pinned to one core), the access log to a file.
    ...(t.asUsed && t.workers === 1 ? [] : [`workers: ${t.workers}`]),
    t.asUsed || t.accessLog ? `log: { level: info, access: ${join(c.run, `logs/access-${t.id}-${mode}.log`)} }` : 'log: { level: info, access: false }',
    ...(t.statsListener ? [`stats: { bind: 127.0.0.1:${c.ports.stats} }`] : []),
    'frontends:',
    '  bench:',
    `    bind: 127.0.0.1:${port}`,
    `    mode: ${mode === 'tcp' ? 'tcp' : 'http'}`,
    `    default_backend: ${mode === 'tcp' ? 'echo' : 'origins'}`,
  ];
  if (mode !== 'tcp' && !t.asUsed && !t.forwarded) lines.push('    forwarded: { xff: false, proto_host: false }');
  if (mode === 'tls') lines.push(`    tls: { certificates: [{ cert: ${c.run}/tls/cert.pem, key: ${c.run}/tls/key.pem }] }`);
  if (t.plugins?.length) lines.push(`    plugins: [${t.plugins.join(', ')}]`);
  if (t.routes) {
    lines.push('    routes:');
    for (let i = 0; i < t.routes; i++) lines.push(`      - { name: r${i}, match: { host: host${i}.example.com, path: / }, backend: origins }`);
  }
  lines.push(
    'backends:',
    mode === 'tcp'
      ? `  echo: { servers: [{ name: echo, address: "127.0.0.1:${c.ports.echo}" }] }`
      : [
          '  origins:',
          '    balance: roundrobin',
          '    servers:',
          `      - { name: origin1, address: "127.0.0.1:${c.ports.origin1}" }`,
          `      - { name: origin2, address: "127.0.0.1:${c.ports.origin2}" }`,
        ].join('\n'),
    '',
  );
  return lines.join('\n');
}
