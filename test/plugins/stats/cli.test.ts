// `tapgate stats -c FILE` through the real CLI against a running gateway.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestGateway, runTapgate, unusedPort, type TestGateway } from 'tapgate/sdk/testing';

const run = (...args: string[]) => runTapgate(['stats', ...args], { env: { NO_COLOR: '1' } });

describe('tapgate stats', () => {
  let gw: TestGateway;
  const token = 'a-token-of-sixteen-chars';
  before(async () => {
    // A fixed port: the CLI finds the stats listener in the config file.
    const port = await unusedPort();
    gw = await createTestGateway({
      config: {
        stats: { bind: `127.0.0.1:${port}`, token },
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app' } },
        backends: {
          app: {
            servers: [
              { name: 'a', address: 'origin:a' },
              { name: 'b', address: `127.0.0.1:${await unusedPort()}`, state: 'maint' },
            ],
          },
        },
      },
      origins: { a: 'name' },
      clock: 'real',
    });
    for (let i = 0; i < 7; i++) await (await fetch(gw.url('/'))).text();
  });
  after(() => gw?.close());

  it('prints frontends, backends and servers with status and counts, using the token from the config', async () => {
    const { code, stdout, stderr } = await run('-c', gw.file);
    assert.equal(code, 0, stderr);
    const lines = stdout.split('\n');
    assert.match(lines[0]!, /^tapgate {2}generation 1 · 1 worker · up /);
    const row = (start: RegExp) =>
      lines
        .find((l) => start.test(l))
        ?.trim()
        .split(/\s{2,}/);
    assert.deepEqual(row(/^FRONTEND/), ['FRONTEND', 'MODE', 'CUR', 'MAX', 'TOTAL', '2xx', '4xx', '5xx%', 'DENIED', 'ERR', 'p99 ms']);
    assert.deepEqual(row(/^web /)!.slice(0, 10), ['web', 'http', '0', '1', '7', '7', '0', '0.0%', '0', '0']);
    assert.deepEqual(row(/^app /)!.slice(0, 6), ['app', 'UP', '1', '0', '1', '7']);
    const a = row(/^ {2}a /)!;
    assert.match(a[1]!, /^UP \d+s$/);
    assert.deepEqual([a[0], ...a.slice(2, 6)], ['a', '1', '0', '1', '7']);
    assert.match(
      lines.find((l) => /^ {2}b /.test(l))!,
      /MAINT/,
    );
  });

  it('prints the JSON document with --format json', async () => {
    const { code, stdout } = await run('-c', gw.file, '--format', 'json');
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout).backends[0].servers[0].sessions.total, 7);
  });

  it('is refused with a wrong token, and says so', async () => {
    const { code, stderr } = await run('-c', gw.file, '--token', 'not-the-right-token');
    assert.equal(code, 1);
    assert.match(stderr, /refused the request \(401\)/);
  });

  it('says so when the configuration has no stats section', async () => {
    const file = join(gw.dir, 'plain.yaml');
    writeFileSync(file, 'frontends: {}\nbackends: {}\n');
    const { code, stderr } = await run('-c', file);
    assert.equal(code, 1);
    assert.match(stderr, /^tapgate stats: no stats section in .*plain\.yaml: add one, e\.g\. stats: \{ bind: 127\.0\.0\.1:8404 \}\n$/);
  });
});
