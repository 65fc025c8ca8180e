// examples/redis-tcp, run as a user runs it (its start script in a child process, which
// starts three real redis-servers): RESP spoken through the gateway on a raw socket, and
// the gateway still answering after one redis-server dies.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import net from 'node:net';
import { root } from '../helpers/gateway.ts';
import { startExample, type RunningExample } from '../helpers/example.ts';

const dir = join(root, 'examples', 'redis-tcp');
const gateway = 6380;
const redisPorts = [16379, 16380, 16381];

/** Sends inline commands, then QUIT, on a fresh connection; the whole answer, once the server closes it. */
async function talk(port: number, ...commands: string[]): Promise<string> {
  const socket = net.connect(port, '127.0.0.1');
  socket.end([...commands, 'QUIT'].map((c) => `${c}\r\n`).join(''));
  let answer = '';
  for await (const chunk of socket) answer += chunk;
  return answer;
}

const accepts = (port: number) =>
  new Promise<boolean>((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });

describe('examples/redis-tcp', () => {
  let example: RunningExample;
  const pids = new Map<string, number>();
  let stderr = '';
  const access: { server: string }[] = [];
  /** Called with each access line as it comes. */
  const accessWatchers = new Set<() => void>();
  /** Resolves once `n` access lines have come (the log writes them in batches, a second apart at most). */
  const accessLines = (n: number, ms = 5000) =>
    new Promise<void>((resolve, reject) => {
      const check = () => {
        if (access.length < n) return;
        clearTimeout(timer);
        accessWatchers.delete(check);
        resolve();
      };
      const timer = setTimeout(() => (accessWatchers.delete(check), reject(new Error(`${access.length} access lines, not ${n}, within ${ms} ms`))), ms);
      accessWatchers.add(check);
      check();
    });
  const watchers = new Set<(line: string) => void>();
  const waitForLine = (test: (line: string) => boolean, what: string, ms = 10_000) =>
    new Promise<void>((resolve, reject) => {
      if (stderr.split('\n').some(test)) return resolve();
      const watch = (line: string) => {
        if (!test(line)) return;
        clearTimeout(timer);
        watchers.delete(watch);
        resolve();
      };
      const timer = setTimeout(() => (watchers.delete(watch), reject(new Error(`no ${what} within ${ms} ms:\n${stderr}`))), ms);
      watchers.add(watch);
    });

  before(async () => {
    example = await startExample(join(dir, 'start.ts'), {
      // The access log (stdout) says which server took each connection.
      onStdout: (line) => {
        access.push(JSON.parse(line));
        for (const check of accessWatchers) check();
      },
      onLine: (line) => {
        stderr += line + '\n';
        for (const watch of watchers) watch(line);
        const started = /^redis-server (r\d) on \S+ \(pid (\d+)\)$/.exec(line);
        if (started) pids.set(started[1]!, Number(started[2]));
      },
    });
  });
  after(() => example.stop());

  it('answers RESP on 127.0.0.1:6380: PING, and SET then GET on one connection', async () => {
    assert.equal(await talk(gateway, 'PING'), '+PONG\r\n+OK\r\n');
    assert.equal(await talk(gateway, 'SET greeting hello', 'GET greeting'), '+OK\r\n$5\r\nhello\r\n+OK\r\n');
    assert.deepEqual([...pids.keys()], ['r1', 'r2', 'r3']);
  });

  it('keeps answering when a redis-server dies, and its health check takes it out', async () => {
    process.kill(pids.get('r1')!, 'SIGKILL');
    // Before the check notices: a refused connection is retried on the next server.
    for (let i = 0; i < 6; i++) assert.equal(await talk(gateway, 'PING'), '+PONG\r\n+OK\r\n');
    await waitForLine((line) => line.includes('server is down') && /"server":"[^"]*r1"/.test(line), 'health check taking r1 out');
    // Every session so far has its line (two in the test before, six here), so those after are the next six.
    const before = 2 + 6;
    await accessLines(before);
    for (let i = 0; i < 6; i++) assert.equal(await talk(gateway, 'PING'), '+PONG\r\n+OK\r\n');
    await accessLines(before + 6);
    const served = access.slice(before).map((a) => a.server);
    assert.equal(served.length, 6);
    assert.ok(
      served.every((s) => s === 'r2' || s === 'r3'),
      `served by ${served.join(', ')}`,
    );
  });

  it('stops its redis-servers when it is stopped', async () => {
    assert.equal(await example.stop(), 0);
    for (let i = 0; i < 40 && (await Promise.all(redisPorts.map(accepts))).some(Boolean); i++) await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(await Promise.all(redisPorts.map(accepts)), [false, false, false]);
  });
});
