// The one-port example with its own demo origins: an HTTP origin on :19101 and an SSH
// double on :12222 (it sends an SSH banner and echoes), then the gateway on :8000.
import net from 'node:net';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { startGateway } from 'tapgate';

const listen = (server: net.Server, port: number) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });

const site = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain' });
  res.end(`hello from the web origin: ${req.method} ${req.url} (${req.headers['x-forwarded-proto']})\n`);
});
const sshDouble = net.createServer((socket) => {
  socket.write('SSH-2.0-tapgate_demo_double\r\n');
  socket.on('data', (d) => socket.write(`(demo SSH double) received ${d.length} bytes\r\n`));
  socket.on('error', () => socket.destroy());
});
await Promise.all([listen(site, 19101), listen(sshDouble, 12222)]);
process.stderr.write('demo origins: web on 127.0.0.1:19101, SSH double on :12222; the gateway listens on 127.0.0.1:8000\n');
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.yaml', import.meta.url)), master: true, signals: true });
await gateway.closed;
site.close();
sshDouble.close();
process.exit();
