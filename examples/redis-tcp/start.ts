// The redis-tcp example: three real redis-servers on 127.0.0.1:16379-16381 (no
// persistence), then the gateway on 127.0.0.1:6380. The servers stop with this process.
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { startGateway } from 'tapgate';

const ports = [16379, 16380, 16381];

function startRedis(port: number): ChildProcess {
  // Its log (stdout) is dropped: a demo's servers need not chatter; a failed start is reported by ready().
  return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

/** Resolves once the port accepts connections; rejects if the server exits first. */
async function ready(server: ChildProcess, port: number): Promise<void> {
  const exited = new Promise<never>((_, reject) => {
    server.once('error', (err) => reject(new Error(`cannot start redis-server (${err.message}); is it installed? scripts/setup.sh installs it`)));
    server.once('exit', (code) => reject(new Error(`redis-server on :${port} exited (${code}); is the port taken?`)));
  });
  const accepts = (async () => {
    for (;;) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  })();
  await Promise.race([accepts, exited]);
}

const servers = ports.map(startRedis);
const stopServers = () => {
  for (const s of servers) if (s.exitCode === null && s.signalCode === null) s.kill('SIGTERM');
};
process.on('exit', stopServers);
// Stopped before the gateway runs (it handles SIGTERM from then on): still stop the servers.
const stopEarly = () => process.exit(143);
process.on('SIGTERM', stopEarly);
try {
  await Promise.all(servers.map((s, i) => ready(s, ports[i]!)));
} catch (err) {
  process.stderr.write(`redis-tcp: ${(err as Error).message}\n`);
  process.exit(1);
}
// Pids on stderr, so that you (or the example's test) can kill one and watch the gateway route around it.
servers.forEach((s, i) => process.stderr.write(`redis-server r${i + 1} on 127.0.0.1:${ports[i]} (pid ${s.pid})\n`));
process.stderr.write('the gateway listens on 127.0.0.1:6380; try: redis-cli -p 6380 ping\n');
process.off('SIGTERM', stopEarly);
// As `tapgate run -c` runs it: with the workers the file asks for (workers: 0, in this
// process), reloading on SIGHUP, stopping on SIGTERM or Ctrl-C.
const gateway = await startGateway({ config: fileURLToPath(new URL('./tapgate.yaml', import.meta.url)), master: true, signals: true });
await gateway.closed;
process.exit();
