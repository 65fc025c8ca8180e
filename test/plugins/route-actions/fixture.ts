// Shared by the rewrite, redirect and respond tests: a gateway whose frontend `web`
// has routes, an origin per backend that echoes what it received, and `check` run on a
// config to read the problems it reports.
import { after } from 'node:test';
import { rmSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import forge from 'node-forge';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../../../core/config/check.ts';
import type { Problem } from '../../../core/config/problems.ts';
import { createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { startGateway, startOrigin, tempDir, type TestGateway, type TestOrigin } from '../../helpers/gateway.ts';
import { createTestGateway, type TestGateway as Harness, type TestResponse } from '../../../sdk/testing.ts';

/** What an echo origin answers: its name, and the request as it arrived. */
export interface Echo {
  origin: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

/** An origin answering every request with JSON describing it, plus `headers` on the response. */
export function startEcho(name: string, headers: Record<string, string | string[]> = {}): Promise<TestOrigin> {
  return startOrigin(name, (req, res) => {
    req.resume();
    req.on('end', () => {
      const echo: Echo = { origin: name, url: req.url!, headers: req.headers };
      res.writeHead(200, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(echo));
    });
  });
}

export interface RoutedGateway {
  gw: TestGateway;
  /** Origins by backend name. */
  origins: Record<string, TestOrigin>;
  /** A request through the gateway (GET unless said; Host may be set): status, headers, body, and the echo when an origin answered. */
  request(path: string, init?: { method?: string; headers?: Record<string, string> }): Promise<Answer>;
  close(): Promise<void>;
}

/**
 * Frontend `web` (default backend `fallback`) with `routes` and frontend `plugins`;
 * a backend (with an echo origin) for every name given in `backends`.
 */
export interface RoutedOptions {
  routes?: object[];
  plugins?: object[];
  backends?: string[];
  /** Headers every origin adds to its answers. */
  originHeaders?: Record<string, string | string[]>;
  /** Terminate TLS on the frontend (a self-signed certificate); requests are sent over https. */
  tls?: boolean;
}

/** A starter for one suite: what it starts is closed after the suite. Call inside `describe`. */
export function routedGateways(): (o: RoutedOptions) => Promise<RoutedGateway> {
  const open: RoutedGateway[] = [];
  after(() => Promise.all(open.map((g) => g.close())));
  return async (o) => {
    const g = await startRouted(o);
    open.push(g);
    return g;
  };
}

export async function startRouted(o: RoutedOptions): Promise<RoutedGateway> {
  const names = ['fallback', ...(o.backends ?? [])];
  const origins: Record<string, TestOrigin> = {};
  for (const name of names) origins[name] = await startEcho(name, o.originHeaders);
  const tls = o.tls ? { certificates: [{ cert: 'cert.pem', key: 'key.pem' }] } : undefined;
  const gw = await startGateway({
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'fallback', routes: o.routes ?? [], plugins: o.plugins ?? [], tls } },
    backends: Object.fromEntries(names.map((name) => [name, { servers: [{ name: 's1', address: origins[name]!.address }] }])),
  }, o.tls ? selfSigned() : {});
  return {
    gw,
    origins,
    request: (path, init = {}) => send(gw.port(), path, init, o.tls === true),
    async close() {
      await gw.close();
      await Promise.all(Object.values(origins).map((origin) => origin.close()));
    },
  };
}

/** The same gateway through the SDK's harness: echo origins named after their backends. Call inside `describe`; closed after the suite. */
export function harnessGateways(): (o: Omit<RoutedOptions, 'originHeaders'>) => Promise<Harness> {
  const open: Harness[] = [];
  after(() => Promise.all(open.map((t) => t.close())));
  return async (o) => {
    const names = ['fallback', ...(o.backends ?? [])];
    const tls = o.tls ? { certificates: [{ cert: 'cert.pem', key: 'key.pem' }] } : undefined;
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'fallback', routes: o.routes ?? [], plugins: o.plugins ?? [], tls } },
        backends: Object.fromEntries(names.map((name) => [name, { servers: [{ name: 's1', address: `origin:${name}` }] }])),
      },
      origins: Object.fromEntries(names.map((name) => [name, 'echo'])),
      files: o.tls ? selfSigned() : {},
    });
    open.push(t);
    return t;
  };
}

/** What an echo origin answered. */
export const echoOf = (res: TestResponse): Echo => JSON.parse(res.body) as Echo;

/** Writes `bytes` on a fresh connection to the harness's frontend and collects everything until it closes (or `waitMs` of silence). */
export async function rawRequest(t: Harness, bytes: string, waitMs = 2000): Promise<string> {
  const socket = await t.tcp();
  return new Promise((resolve, reject) => {
    let out = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (out += d));
    socket.setTimeout(waitMs, () => socket.destroy());
    socket.on('close', () => resolve(out));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

export interface Answer {
  status: number;
  headers: Headers;
  body: string;
  echo?: Echo;
}

/** node:http(s) rather than fetch, which would not send our Host header. */
function send(port: number, path: string, init: { method?: string; headers?: Record<string, string> }, tls: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const options = { port, host: '127.0.0.1', path, method: init.method ?? 'GET', headers: init.headers, agent: false, rejectUnauthorized: false };
    const req = (tls ? https : http).request(options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const headers = new Headers();
        for (let i = 0; i < res.rawHeaders.length; i += 2) headers.append(res.rawHeaders[i]!, res.rawHeaders[i + 1]!);
        const body = Buffer.concat(chunks).toString();
        const echo = headers.get('content-type') === 'application/json' ? (JSON.parse(body) as Echo) : undefined;
        resolve({ status: res.statusCode!, headers, body, echo });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A self-signed certificate for the frontend's TLS: `cert.pem` and `key.pem`. */
function selfSigned(): Record<string, string> {
  const keys = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey);
  cert.serialNumber = '01';
  cert.validity.notBefore = new Date(Date.now() - 3_600_000);
  cert.validity.notAfter = new Date(Date.now() + 86_400_000);
  cert.setSubject([{ name: 'commonName', value: 'route-actions.test' }]);
  cert.setIssuer([{ name: 'commonName', value: 'route-actions.test' }]);
  cert.sign(forge.pki.privateKeyFromPem(keys.privateKey) as forge.pki.rsa.PrivateKey, forge.md.sha256.create());
  return { 'cert.pem': forge.pki.certificateToPem(cert), 'key.pem': keys.privateKey };
}

/** `tapgate check` on `config` (written as YAML): the problems it reports. */
export async function checkProblems(config: object): Promise<Problem[]> {
  const dir = tempDir();
  const file = join(dir, 'tapgate.yaml');
  writeFileSync(file, stringify(config));
  try {
    const result = await checkConfig(file, { builtins, logger: createLogger('silent') });
    return result.problems;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The problems `check` reports, as [key path, message], when the first route of frontend `web` uses plugin `use` with `options`. */
export async function optionProblems(use: string, options: unknown): Promise<[string, string][]> {
  const problems = await checkProblems({
    frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', routes: [{ match: { path: '/x' }, plugins: [{ use, options }] }] } },
    backends: { app: { servers: [{ name: 's1', address: '127.0.0.1:9' }] } },
  });
  return problems.map((p) => [p.path, `${p.message}${p.hint ? ` (${p.hint})` : ''}`]);
}
