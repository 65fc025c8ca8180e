// The gateways under fuzz. One process serves many frontends, one per configuration
// (no plugins, sync taps, async taps, each built-in plugin, TLS, h2c, tcp mode with its
// detectors), so a run pays one start; a second, a master with two workers, shows worker
// exits the way production sees them. Every frontend's backend is the same recording origin.
import { createHash, generateKeyPairSync, randomBytes, scryptSync } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { SignJWT, importPKCS8 } from 'jose';
import { deadPort, freePort } from '../../helpers/gateway.ts';
import { TestCa } from '../../core/tls/pki.ts';
import type { EchoServer, FuzzOrigin } from './origins.ts';

/** Free ports, each different from the others this process took (the OS may hand a released port out again at once). */
const taken = new Set<number>();
async function newPort(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (!taken.has(p)) {
      taken.add(p);
      return p;
    }
  }
  throw new Error('no new free port in 20 tries');
}

const plugin = (file: string) => fileURLToPath(new URL(`../plugins/${file}`, import.meta.url));

/** An HTTP frontend under fuzz, and the normal request it must serve right after each case. */
export interface HttpFrontend {
  name: string;
  /** What the frontend runs, for test names: "async taps on every request-path hook". */
  about: string;
  port: number;
  tls: boolean;
  /** Speaks HTTP/2 too (h2c with prior knowledge, or ALPN h2 over TLS). */
  h2: boolean;
  /** The normal request: headers that get it through the frontend's plugins, and the status it gets. */
  normal: { path: string; headers: Record<string, string>; status: number };
}

export interface TcpFrontend {
  name: string;
  about: string;
  port: number;
}

export interface FuzzSetup {
  config: object;
  files: Record<string, string>;
  http: HttpFrontend[];
  tcp: TcpFrontend[];
  statsPort: number;
}

/** Short timeouts so that a case waiting on one ends in seconds, not the defaults' minutes. */
const timeouts = { client_headers: '2s', client: '2s', keepalive: '2s', server: '3s', server_body: '3s', connect: '1s', queue: '1s', tunnel: '5s' };

/** Credentials the auth plugins' frontends accept, made for this run. */
async function credentials() {
  const apiKey = randomBytes(16).toString('hex');
  const password = 'fuzz-password';
  const salt = randomBytes(16);
  // N=1024 rather than the README's 16384: the fuzz sends many bad passwords, each one a verification.
  const hash = ['scrypt', 1024, 8, 1, salt.toString('base64'), scryptSync(password, salt, 32, { N: 1024, r: 8, p: 1 }).toString('base64')].join('$');
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwtPublic = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  const signing = await importPKCS8(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, 'ES256');
  const token = await new SignJWT({ sub: 'fuzz' }).setProtectedHeader({ alg: 'ES256' }).setExpirationTime('2h').sign(signing);
  return {
    apiKey,
    apiKeyDigest: createHash('sha256').update(apiKey).digest('hex'),
    basic: Buffer.from(`fuzz:${password}`).toString('base64'),
    hash,
    jwtPublic,
    token,
  };
}

/**
 * The single-process gateway (`workers: 0`): every HTTP configuration as its own frontend,
 * a tcp frontend inspecting with the built-in detectors and handing HTTP and h2c over.
 */
export async function singleProcessSetup(origin: FuzzOrigin, echo: EchoServer): Promise<FuzzSetup> {
  const creds = await credentials();
  const ca = new TestCa('fuzz CA');
  const cert = ca.issue({ cn: 'localhost', dns: ['localhost'], ips: ['127.0.0.1'] });
  const server = (n: string) => ({ name: n, address: origin.address, check: false });
  const backend = (balance = 'roundrobin') => ({ balance, passive: false, retries: 1, servers: [server('s1'), server('s2')] });
  const http: HttpFrontend[] = [];
  const frontends: Record<string, object> = {};
  const backends: Record<string, object> = {};
  const normal = (headers: Record<string, string> = {}, path = '/', status = 200) => ({ path, headers, status });

  const add = async (
    name: string,
    about: string,
    fe: object,
    opts: { balance?: string; tls?: boolean; h2?: boolean; normal?: HttpFrontend['normal'] } = {},
  ) => {
    const port = await newPort();
    backends[name] = backend(opts.balance);
    frontends[name] = { bind: `127.0.0.1:${port}`, mode: 'http', default_backend: name, ...fe };
    http.push({ name, about, port, tls: opts.tls ?? false, h2: opts.h2 ?? false, normal: opts.normal ?? normal() });
  };

  await add('plain', 'no plugins', {});
  await add('sync-taps', 'sync taps on every HTTP hook', { plugins: [{ use: plugin('sync-taps.ts') }] }, { balance: 'leastconn' });
  await add('async-taps', 'async taps on every request-path hook', { plugins: [{ use: plugin('async-taps.ts') }] }, { balance: 'random' });
  await add('cache', 'the cache plugin', { plugins: [{ use: 'cache', options: { purge: { enabled: true } } }] }, { balance: 'uri' });
  await add(
    'rewrite',
    'the rewrite plugin',
    {
      plugins: [
        {
          use: 'rewrite',
          options: {
            strip_prefix: '/api',
            add_prefix: '/v1',
            request_headers: { set: { 'x-rewritten': '1' }, remove: ['cookie'] },
            response_headers: { remove: ['x-powered-by'] },
          },
        },
      ],
    },
    { balance: 'hdr(x-user)' },
  );
  await add(
    'redirect-respond',
    'the redirect and respond plugins on routes',
    {
      routes: [
        { name: 'old', match: { path: '/old/' }, plugins: [{ use: 'redirect', options: { to: 'https://{hostname}{path}{query}', status: 301 } }] },
        { name: 'robots', match: { path: { exact: '/robots.txt' } }, plugins: [{ use: 'respond', options: { body: 'User-agent: *\n' } }] },
      ],
    },
    { balance: 'cookie(session)' },
  );
  await add(
    'jwt',
    'the jwt plugin',
    { plugins: [{ use: 'jwt', options: { keys: ['jwt.pem'], forward: { sub: 'x-user' }, strip: true } }] },
    { balance: 'source', normal: normal({ authorization: `Bearer ${creds.token}` }) },
  );
  await add(
    'api-key',
    'the api-key plugin',
    { plugins: [{ use: 'api-key', options: { keys: [{ name: 'fuzz', key_sha256: creds.apiKeyDigest }], query: 'key', forward_name: 'x-key-name' } }] },
    { balance: 'static-rr', normal: normal({ 'x-api-key': creds.apiKey }) },
  );
  await add(
    'basic-auth',
    'the basic-auth plugin',
    { plugins: [{ use: 'basic-auth', options: { users: { fuzz: creds.hash }, forward_user: 'x-user' } }] },
    { balance: 'first', normal: normal({ authorization: `Basic ${creds.basic}` }) },
  );
  await add(
    'auth-request',
    'the auth-request plugin',
    { plugins: [{ use: 'auth-request', options: { url: `http://${origin.address}/.auth-service/check`, upstream_headers: ['x-user'], cache_ttl: '1s' } }] },
    { balance: 'ewma' },
  );
  await add('rate-limit', 'the rate-limit plugin', {
    plugins: [
      { use: 'rate-limit', options: { limit: '1000000 per 1m' } },
      { use: 'rate-limit', options: { algorithm: 'token_bucket', rate: 100000, burst: 100000, policy: 'burst', key: { header: 'x-user' }, missing: 'allow' } },
    ],
  });
  await add('sticky-cookie', 'the sticky-cookie plugin', { plugins: [{ use: 'sticky-cookie', options: { name: 'SRVID', max_age: 60 } }] });
  await add('tls', 'TLS (HTTP/1.1 and h2 by ALPN)', { tls: { certificates: [{ cert: 'cert.pem', key: 'key.pem' }] } }, { tls: true, h2: true });
  await add('h2c', 'h2c with prior knowledge', { h2c: true }, { h2: true });
  // Deliberately broken, for the harness's own test: its only server refuses connections (503, a server charged).
  await add('broken', 'a backend whose server refuses connections', {}, { normal: normal({}, '/', 503) });
  backends.broken = { retries: 0, passive: false, servers: [{ name: 'dead', address: `127.0.0.1:${await deadPort()}`, check: false }] };

  // tcp mode: detectors decide; HTTP and h2c are handed to frontends without a port of their own.
  const edge = await newPort();
  backends.echo = { mode: 'tcp', retries: 1, servers: [{ name: 'echo', address: echo.address, check: false }] };
  frontends.handed = { mode: 'http', default_backend: 'plain' };
  frontends['handed-h2c'] = { mode: 'http', default_backend: 'plain', h2c: true };
  frontends.edge = {
    bind: `127.0.0.1:${edge}`,
    mode: 'tcp',
    inspect_delay: '300ms',
    default_backend: 'echo',
    routes: [
      { name: 'h2c', match: { protocol: 'h2c' }, frontend: 'handed-h2c' },
      { name: 'http', match: { protocol: 'http' }, frontend: 'handed' },
      { name: 'tls', match: { protocol: 'tls', sni: 'pass.example' }, backend: 'echo' },
      { name: 'ssh', match: { protocol: 'ssh' }, backend: 'echo' },
    ],
  };

  const statsPort = await newPort();
  return {
    config: {
      workers: 0,
      log: { level: 'info', access: true },
      stats: { bind: `127.0.0.1:${statsPort}` },
      defaults: { timeouts },
      plugin_budget: { timeout: '5s' },
      hard_stop_after: '1s',
      frontends,
      backends,
    },
    files: { 'cert.pem': cert.cert, 'key.pem': cert.key, 'jwt.pem': creds.jwtPublic },
    http,
    tcp: [{ name: 'edge', about: 'tcp mode with the tls, http, h2c and ssh detectors', port: edge }],
    statsPort,
  };
}

/** A master with two workers: a plain frontend and one with async taps. A worker that dies is logged and replaced, and its pid changes. */
export async function masterSetup(origin: FuzzOrigin): Promise<FuzzSetup> {
  const server = (n: string) => ({ name: n, address: origin.address, check: false });
  const http: HttpFrontend[] = [];
  const frontends: Record<string, object> = {};
  const backends: Record<string, object> = {};
  for (const [name, about, plugins] of [
    ['workers-plain', 'two workers under a master, no plugins', []],
    ['workers-async-taps', 'two workers under a master, async taps on every request-path hook', [{ use: plugin('async-taps.ts') }]],
  ] as const) {
    const port = await newPort();
    backends[name] = { passive: false, retries: 1, servers: [server('s1')] };
    frontends[name] = { bind: `127.0.0.1:${port}`, default_backend: name, plugins };
    http.push({ name, about, port, tls: false, h2: false, normal: { path: '/', headers: {}, status: 200 } });
  }
  const statsPort = await newPort();
  return {
    config: {
      workers: 2,
      log: { level: 'info', access: true },
      stats: { bind: `127.0.0.1:${statsPort}` },
      defaults: { timeouts },
      plugin_budget: { timeout: '5s' },
      hard_stop_after: '1s',
      frontends,
      backends,
    },
    files: {},
    http,
    tcp: [],
    statsPort,
  };
}
