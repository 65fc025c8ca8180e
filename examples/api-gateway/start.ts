// The api-gateway example with its own demo origins: an orders API on :19301 and a
// static site on :19302, both answering JSON, then the gateway on :8090 (stats on :8405).
// It prints a demo token signed with the demo private key in keys/ (committed: a demo
// key, never to be trusted anywhere else).
import http from 'node:http';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { importJWK, SignJWT, type JWK } from 'jose';
import { startGateway } from 'tapgate';

function startOrigin(name: string, port: number): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const headers: http.OutgoingHttpHeaders = { 'content-type': 'application/json', 'x-origin': name };
      if (req.url?.startsWith('/public/')) headers['cache-control'] = 'public, max-age=60';
      const body = { origin: name, method: req.method, path: req.url, user: req.headers['x-user-id'] ?? null, served_at: new Date().toISOString() };
      res.writeHead(200, headers);
      res.end(JSON.stringify(body) + '\n');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

async function demoToken(): Promise<string> {
  const { _comment, ...jwk } = JSON.parse(readFileSync(new URL('./keys/demo-private.jwk.json', import.meta.url), 'utf8')) as JWK & { _comment?: string };
  const key = await importJWK(jwk, 'ES256');
  return new SignJWT({ scope: 'orders:read' })
    .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'JWT' })
    .setSubject('demo-user')
    .setIssuer('https://demo.tapgate.invalid')
    .setAudience('tapgate-demo-api')
    .setIssuedAt()
    .setExpirationTime('1y')
    .sign(key);
}

const origins = await Promise.all([startOrigin('orders', 19301), startOrigin('static', 19302)]);
const token = await demoToken();
process.stderr.write(
  'demo origins: orders on 127.0.0.1:19301, static on :19302; the gateway listens on 127.0.0.1:8090, stats on http://127.0.0.1:8405/\n' +
    'a demo token (user "demo-user", valid for a year, signed with the DEMO key in examples/api-gateway/keys/):\n' +
    `export TOKEN=${token}\n` +
    'then: curl -s -H "Authorization: Bearer $TOKEN" 127.0.0.1:8090/api/orders\n',
);
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.yaml', import.meta.url)), master: true, signals: true });
await gateway.closed;
for (const o of origins) o.close();
process.exit();
