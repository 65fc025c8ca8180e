// The access log: the fields the stats know (route, plugin time, retries, termination
// state) on real requests, and sampling that never drops an error.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { checkConfig } from '../../../core/config/check.ts';
import { Gateway } from '../../../core/gateway.ts';
import { createAccessLog, createLogger } from '../../../core/log.ts';
import { builtins } from '../../../plugins/index.ts';
import { deadPort, startOrigin, tempDir, type TestOrigin } from '../../helpers/gateway.ts';

describe('access log', () => {
  let origin: TestOrigin;
  let slow: TestOrigin;
  let gateway: Gateway;
  let logFile: string;
  let port: number;
  before(async () => {
    origin = await startOrigin('o');
    slow = await startOrigin('slow', () => undefined); // never answers
    const dir = tempDir();
    logFile = join(dir, 'access.log');
    const file = join(dir, 'tapgate.yaml');
    writeFileSync(
      file,
      stringify({
        log: { level: 'silent', access: logFile },
        frontends: {
          web: {
            bind: '127.0.0.1:0',
            default_backend: 'app',
            routes: [
              { name: 'teapot', match: { path: '/tea' }, plugins: [{ use: 'respond', options: { status: 418, body: 'short and stout' } }] },
              { name: 'dead', match: { path: '/dead' }, backend: 'dead' },
              { name: 'slow', match: { path: '/slow' }, backend: 'slow' },
            ],
          },
        },
        backends: {
          app: { servers: [{ name: 'o', address: origin.address }] },
          dead: {
            retries: 1,
            servers: [
              { name: 'd1', address: `127.0.0.1:${await deadPort()}` },
              { name: 'd2', address: `127.0.0.1:${await deadPort()}` },
            ],
          },
          slow: { timeouts: { server: '200ms' }, servers: [{ name: 's', address: slow.address }] },
        },
      }),
    );
    const checked = await checkConfig(file, { builtins, logger: createLogger('silent'), keep: true });
    assert.ok(checked.generation && checked.config);
    gateway = await Gateway.start(checked.generation, { logger: createLogger('silent'), accessLog: createAccessLog(logFile) });
    port = gateway.port('web');
  });
  after(async () => {
    await gateway.kill();
    await origin.close();
    await slow.close();
  });

  const get = (path: string, abortAfter?: number) =>
    new Promise<number>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      if (abortAfter !== undefined) setTimeout(() => req.destroy(), abortAfter);
      req.on('error', () => resolve(0));
    });

  it('says who ended each exchange and in which phase, with route, plugin time and retries', async () => {
    assert.equal(await get('/ok'), 200);
    assert.equal(await get('/tea'), 418);
    assert.equal(await get('/dead'), 503);
    assert.equal(await get('/slow'), 504);
    const posted = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/upload', method: 'POST', agent: false, headers: { 'content-length': '1000' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.end('x'.repeat(1000));
    });
    assert.equal(posted, 200);
    const chunked = await new Promise<number>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path: '/chunked', method: 'POST', agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode!));
      });
      req.on('error', reject);
      req.write('y'.repeat(300));
      req.end('z'.repeat(200));
    });
    assert.equal(chunked, 200);
    await gateway.kill(); // flushes the log
    const lines = readFileSync(logFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const by = (path: string) => lines.find((l) => l.path === path);
    assert.deepEqual([by('/ok').termination, by('/ok').route, by('/ok').server], ['--', 'default', 'o']);
    assert.equal(typeof by('/ok').plugins_ms, 'number');
    assert.deepEqual([by('/tea').termination, by('/tea').route, by('/tea').status], ['L-', 'teapot', 418]);
    assert.deepEqual([by('/dead').termination, by('/dead').retries], ['SC', 1]);
    assert.deepEqual([by('/slow').termination, by('/slow').status], ['sH', 504]);
    assert.equal(by('/upload').bytes_in, 1000, 'the request body is counted');
    assert.equal(by('/chunked').bytes_in, 500, 'a chunked body too');
    assert.equal(by('/ok').bytes_in, undefined, 'a GET without a body reads nothing more');
  });

  it('a sampled log keeps a share of ordinary lines and every error', async () => {
    const dir = tempDir();
    const file = join(dir, 'sampled.log');
    let n = 0;
    const log = createAccessLog(file, 0.25, () => [0.1, 0.9, 0.5, 0.2][n++ % 4]!)!;
    for (let i = 0; i < 8; i++) log.write({ path: `/ok${i}`, status: 200 });
    log.write({ path: '/err', status: 502, error: 'ECONNRESET' });
    log.write({ path: '/five', status: 503 });
    await log.close();
    const paths = readFileSync(file, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).path);
    assert.deepEqual(paths, ['/ok0', '/ok3', '/ok4', '/ok7', '/err', '/five']);
  });

  it('lines are batched off the request path, yet a line of light traffic is in the file within about a second, unclosed', async () => {
    const dir = tempDir();
    const file = join(dir, 'light.log');
    const log = createAccessLog(file)!;
    log.write({ path: '/one', status: 200 });
    const started = performance.now();
    let text = '';
    // Waits for the file to show the line (the periodic flush), 5 s at most.
    while (!text.includes('/one') && performance.now() - started < 5000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      text = existsSync(file) ? readFileSync(file, 'utf8') : '';
    }
    const waited = performance.now() - started;
    assert.ok(text.includes('/one'), 'the line reached the file');
    assert.ok(waited < 2500, `in ${Math.round(waited)} ms`);
    const line = JSON.parse(text.trim());
    assert.equal(line.level, 30);
    assert.match(line.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.deepEqual(Object.keys(line), ['level', 'time', 'path', 'status'], 'as pino wrote it: level, time, then the entry');
    await log.close();
  });
});
