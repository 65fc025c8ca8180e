// TCP echo for the suite's TCP mode scenario (plain JS: starts fast, no loader).
//   node echo.mjs server PORT                      echoes every byte back (socket.pipe(socket))
//   node echo.mjs client PORT SECONDS CONNECTIONS  sends 64 KiB chunks on each connection, at most
//     4 MiB in flight per connection, for SECONDS; prints "ECHO_RESULT\t<bytes echoed>\t<seconds>"
import net from 'node:net';

const [mode, portText, secondsText, connectionsText] = process.argv.slice(2);
const port = Number(portText);

if (mode === 'server') {
  const server = net.createServer({ noDelay: true }, (s) => {
    s.on('error', () => s.destroy());
    s.pipe(s);
  });
  server.listen(port, '127.0.0.1');
  process.on('SIGTERM', () => process.exit(0));
} else if (mode === 'client') {
  const seconds = Number(secondsText);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  const window = 4 * 1024 * 1024;
  let received = 0;
  let counting = false;
  let start = 0;
  const sockets = [];
  for (let i = 0; i < Number(connectionsText); i++) {
    const s = net.connect({ port, host: '127.0.0.1', noDelay: true });
    let sent = 0,
      back = 0;
    const fill = () => {
      while (sent - back < window) {
        sent += chunk.length;
        if (!s.write(chunk)) break;
      }
    };
    s.on('connect', fill);
    s.on('drain', fill);
    s.on('data', (d) => {
      back += d.length;
      if (counting) received += d.length;
      fill();
    });
    s.on('error', (err) => {
      console.error(`echo client: ${err.message}`);
      process.exit(1);
    });
    sockets.push(s);
  }
  // A half-second warm-up, then count for SECONDS.
  setTimeout(() => {
    counting = true;
    start = performance.now();
    setTimeout(() => {
      const elapsed = (performance.now() - start) / 1000;
      process.stdout.write(`ECHO_RESULT\t${received}\t${elapsed.toFixed(3)}\n`);
      for (const s of sockets) s.destroy();
      process.exit(0);
    }, seconds * 1000);
  }, 500);
} else {
  console.error('usage: echo.mjs server PORT | client PORT SECONDS CONNECTIONS');
  process.exit(2);
}
