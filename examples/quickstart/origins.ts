// Demo origins for the quickstart: small HTTP servers that say who they are.
import http from 'node:http';

export function startOrigin(name: string, port: number, host = '127.0.0.1'): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    let size = 0;
    req.on('data', (c: Buffer) => (size += c.length));
    req.on('end', () => {
      const body = `hello from ${name}: ${req.method} ${req.url}${size ? ` (${size} bytes received)` : ''}\n`;
      res.writeHead(200, { 'content-type': 'text/plain', 'x-origin': name });
      res.end(body);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
