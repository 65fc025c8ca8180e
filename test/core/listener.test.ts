// A frontend's listener (core/gateway.ts): what a connection can do to it before any
// protocol engine owns it, and what running out of file descriptors does to serving.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, get, startGateway, startOrigin, tempDir } from '../helpers/gateway.ts';
import { bin } from '../helpers/master.ts';

/** Connects, sends `bytes`, and resets the connection once the gateway has had them. */
function resetAfter(port: number, bytes: string): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => s.write(bytes, () => setImmediate(() => s.resetAndDestroy())));
    s.on('error', () => undefined);
    s.on('close', () => resolve());
  });
}

describe('a listener', () => {
  it('survives connections reset while h2c looks for its preface and while a tcp frontend inspects', async () => {
    const origin = await startOrigin('o');
    const gw = await startGateway({
      frontends: {
        h2c: { bind: '127.0.0.1:0', default_backend: 'app', h2c: true },
        inspect: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'raw', routes: [{ name: 'tls', match: { protocol: 'tls' }, backend: 'raw' }] },
      },
      backends: { app: { servers: [{ name: 'o', address: origin.address }] }, raw: { mode: 'tcp', servers: [{ name: 'o', address: origin.address }] } },
    });
    const uncaught: Error[] = [];
    const onUncaught = (err: Error) => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      for (let i = 0; i < 5; i++) {
        await resetAfter(gw.port('h2c'), 'PRI * HT');
        await resetAfter(gw.port('inspect'), '\x16\x03\x01');
      }
      // Resets are read by the next turns of the loop: a request after them is served only once they were.
      assert.equal((await get(gw.url('/', 'h2c'))).status, 200);
      assert.deepEqual(
        uncaught.map((e) => e.message),
        [],
      );
    } finally {
      process.off('uncaughtException', onUncaught);
      await gw.close();
      await origin.close();
    }
  });

  it('keeps serving when it runs out of file descriptors: what it cannot accept is closed, and it serves once they are gone', async () => {
    const origin = await startOrigin('o');
    const dir = tempDir();
    const port = await freePort();
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(
      file,
      `workers: 0
log: { level: info, access: false }
frontends:
  web: { bind: 127.0.0.1:${port}, default_backend: app }
backends:
  app: { servers: [{ name: o, address: ${origin.address} }] }
`,
    );
    // A low descriptor limit for the gateway alone: the test's own connections exhaust it.
    const child = spawn('bash', ['-c', `ulimit -n 128 && exec "${process.execPath}" "${bin}" run -c "${file}"`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const lines: string[] = [];
    const waitFor = (text: string) =>
      new Promise<void>((resolve) => {
        if (lines.some((l) => l.includes(text))) return resolve();
        const onLine = (l: string) => l.includes(text) && (reader.off('line', onLine), resolve());
        reader.on('line', onLine);
      });
    const reader = createInterface({ input: child.stderr! }).on('line', (l) => lines.push(l));
    const exited = once(child, 'exit');
    const died = exited.then(() => assert.fail(`the gateway exited:\n${lines.join('\n')}`));
    const sockets: net.Socket[] = [];
    const guard = setTimeout(() => child.kill('SIGKILL'), 30_000);
    try {
      await Promise.race([waitFor('tapgate serving'), died]);
      for (let i = 0; i < 200; i++) {
        const s = net.connect(port, '127.0.0.1');
        s.on('error', () => undefined);
        sockets.push(s);
      }
      // libuv accepts and closes what it has no descriptor for (its EMFILE trick): some of these are closed at once.
      await Promise.all(sockets.map((s) => once(s, 'connect').catch(() => undefined)));
      const request = await Promise.race([
        get(`http://127.0.0.1:${port}/`).then(
          (r) => r.status,
          () => 0,
        ),
        died,
      ]);
      assert.ok(request === 0 || request === 200 || request === 503, `a request while out of descriptors: ${request}`);
      for (const s of sockets) s.destroy();
      // Once the others are gone, descriptors are free again: a request is served. The gateway
      // learns of the closes asynchronously (nothing here tells when): a request that still finds
      // no descriptor is closed, so ask again, 50 times at most, 100 ms apart.
      let status = 0;
      for (let i = 0; i < 50 && status !== 200; i++) {
        if (i > 0) await new Promise((resolve) => setTimeout(resolve, 100));
        status = await Promise.race([
          get(`http://127.0.0.1:${port}/`).then(
            (r) => r.status,
            () => 0,
          ),
          died,
        ]);
      }
      assert.equal(status, 200);
      assert.equal(child.exitCode, null, 'the gateway is still running');
    } finally {
      clearTimeout(guard);
      for (const s of sockets) s.destroy();
      child.kill('SIGKILL');
      await exited;
      await origin.close();
    }
  });
});
