// The api-key plugin: keys in a header or the query (the query parameter removed before
// the server sees it), hashed keys from the options and from a keys file that a reload
// reads again, refusals before the origin, per-route use, and option problems.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestGateway, echoed as seen, get, type TestGateway, type TestOrigin } from 'tapgate/sdk/testing';
import { optionProblems } from '../route-actions/fixture.ts';

const sha256 = (key: string) => createHash('sha256').update(key).digest('hex');

// A user plugin reading what api-key left in ctx.state (as a rate limiter would).
const probe = `export default {
  name: 'probe', version: '1.0.0',
  setup(api) {
    api.hooks.http.upstreamRequest.tap('probe', (ctx) => { ctx.upstream.headers['x-state'] = JSON.stringify(ctx.state.apiKey ?? null); });
  },
};
`;

let origin: TestOrigin;
let gw: TestGateway;

before(async () => {
  gw = await createTestGateway({
    config: {
      frontends: {
        web: {
          bind: '127.0.0.1:0',
          default_backend: 'app',
          routes: [
            {
              name: 'keys',
              match: { path: '/keys' },
              plugins: [
                {
                  use: 'api-key',
                  options: {
                    keys: [{ name: 'alice', key_sha256: sha256('alice-secret-1') }],
                    keys_file: 'keys.txt',
                    query: 'api_key',
                    forward_name: 'x-api-key-name',
                  },
                },
                { use: './probe.ts' },
              ],
            },
            {
              name: 'kept',
              match: { path: '/kept' },
              plugins: [{ use: 'api-key', options: { keys: [{ name: 'alice', key_sha256: sha256('alice-secret-1') }], header: 'x-token', strip: false } }],
            },
            { name: 'public', match: { path: '/public' } },
          ],
        },
      },
      backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
    },
    origins: { app: 'echo' },
    files: {
      'keys.txt': `# name:sha256 of the key\nbob:${sha256('bob-secret-1')}\n\ncarol : ${sha256('carol-secret-1').toUpperCase()}\n`,
      'probe.ts': probe,
    },
  });
  origin = gw.origins.app!;
});
after(() => gw?.close());

describe('api-key', () => {
  it('a known key in the header passes: its name goes to the server and to ctx.state, the key does not', async () => {
    const r = await get(gw.url('/keys'), { 'x-api-key': 'alice-secret-1' });
    assert.equal(r.status, 200);
    const { headers } = seen(r);
    assert.equal(headers['x-api-key-name'], 'alice');
    assert.equal(headers['x-api-key'], undefined);
    assert.deepEqual(JSON.parse(String(headers['x-state'])), { name: 'alice' });
  });

  it('keys from the keys file pass, with names and upper-case digests as written there', async () => {
    assert.equal(seen(await get(gw.url('/keys'), { 'x-api-key': 'bob-secret-1' })).headers['x-api-key-name'], 'bob');
    assert.equal(seen(await get(gw.url('/keys'), { 'x-api-key': 'carol-secret-1' })).headers['x-api-key-name'], 'carol');
  });

  it('a key in the query passes, and the parameter is removed while the others stay', async () => {
    const r = await get(gw.url('/keys?a=1&api_key=bob-secret-1&b=2'));
    assert.equal(r.status, 200);
    assert.equal(seen(r).url, '/keys?a=1&b=2');
    assert.equal(seen(r).headers['x-api-key-name'], 'bob');
    assert.equal(seen(await get(gw.url('/keys?api_key=bob-secret-1'))).url, '/keys');
  });

  it('a key sent both ways is removed from both', async () => {
    const r = await get(gw.url('/keys?api_key=bob-secret-1'), { 'x-api-key': 'alice-secret-1' });
    assert.equal(seen(r).headers['x-api-key-name'], 'alice', 'the header is read first');
    assert.equal(seen(r).url, '/keys');
    assert.equal(seen(r).headers['x-api-key'], undefined);
  });

  it('missing, empty, wrong and malformed keys get a 401 and never reach the server', async () => {
    const before = origin.requests.length;
    const cases: [string, Record<string, string>, RegExp][] = [
      ['/keys', {}, /an API key is required \(header x-api-key or query parameter api_key\)/],
      ['/keys', { 'x-api-key': '' }, /required/],
      ['/keys', { 'x-api-key': '   ' }, /required/],
      ['/keys?api_key=', {}, /required/],
      ['/keys', { 'x-api-key': 'alice-secret-2' }, /not valid/],
      ['/keys', { 'x-api-key': sha256('alice-secret-1') }, /not valid/],
      ['/keys', { 'x-api-key': 'alice-secret-1, bob-secret-1' }, /not valid/],
      ['/keys?api_key=%E0%A4%A', {}, /not valid/],
      ['/keys', { 'x-api-key-name': 'alice' }, /required/],
    ];
    for (const [path, headers, body] of cases) {
      const r = await get(gw.url(path), headers);
      assert.equal(r.status, 401, `${path} ${JSON.stringify(headers)}`);
      assert.equal(r.headers['www-authenticate'], 'ApiKey realm="tapgate"');
      assert.equal(r.headers['cache-control'], 'no-store');
      assert.match(JSON.parse(r.body).error_description, body);
    }
    assert.equal(origin.requests.length, before);
  });

  it("a client's own x-api-key-name is replaced by the name of its key", async () => {
    const r = await get(gw.url('/keys'), { 'x-api-key': 'bob-secret-1', 'x-api-key-name': 'root' });
    assert.equal(seen(r).headers['x-api-key-name'], 'bob');
  });

  it('a route without the plugin is open; strip: false sends the key on; another header can carry it', async () => {
    assert.equal((await get(gw.url('/public'))).status, 200);
    assert.equal((await get(gw.url('/kept'), { 'x-api-key': 'alice-secret-1' })).status, 401, 'only x-token counts there');
    const r = await get(gw.url('/kept'), { 'x-token': 'alice-secret-1' });
    assert.equal(r.status, 200);
    assert.equal(seen(r).headers['x-token'], 'alice-secret-1');
    assert.equal(seen(r).headers['x-api-key-name'], undefined);
  });

  it('a reload reads the keys file again: a removed key stops working, an added one starts', async () => {
    writeFileSync(join(gw.dir, 'keys.txt'), JSON.stringify([{ name: 'dave', key_sha256: sha256('dave-secret-1') }]));
    assert.equal((await get(gw.url('/keys'), { 'x-api-key': 'dave-secret-1' })).status, 401, 'not before the reload');
    const next = await gw.reload();
    assert.ok(next.ok, next.ok ? '' : next.problems.map((p) => p.message).join('\n'));
    assert.equal(seen(await get(gw.url('/keys'), { 'x-api-key': 'dave-secret-1' })).headers['x-api-key-name'], 'dave');
    assert.equal((await get(gw.url('/keys'), { 'x-api-key': 'bob-secret-1' })).status, 401);
    assert.equal((await get(gw.url('/keys'), { 'x-api-key': 'alice-secret-1' })).status, 200, 'keys from the options stay');
    // The JSON object form too.
    writeFileSync(join(gw.dir, 'keys.txt'), JSON.stringify({ erin: sha256('erin-secret-1') }));
    assert.equal((await gw.reload()).ok, true);
    assert.equal(seen(await get(gw.url('/keys'), { 'x-api-key': 'erin-secret-1' })).headers['x-api-key-name'], 'erin');
  });

  it('a malformed keys file fails the reload, saying where, and the running keys stay', async () => {
    writeFileSync(join(gw.dir, 'keys.txt'), `frank:${sha256('frank-secret-1')}\ngrace ${sha256('grace-secret-1')}\n`);
    const broken = await gw.reload();
    assert.equal(broken.ok, false);
    assert.deepEqual(broken.ok ? [] : broken.problems.map((p) => [p.path, p.message]), [
      [
        'frontends.web.routes[0].plugins[0]',
        'plugin "api-key" failed to set up: keys_file (keys.txt, line 2): expected name:sha256hex (64 hex digits after the colon)',
      ],
    ]);
    assert.equal((await get(gw.url('/keys'), { 'x-api-key': 'erin-secret-1' })).status, 200);
  });

  it('check reports option problems at their key paths', async () => {
    const base = 'frontends.web.routes[0].plugins[0].options';
    assert.deepEqual(await optionProblems('api-key', {}), [[base, 'plugin "api-key" options: expected `keys` or `keys_file`, found a mapping']]);
    const [[path, message]] = (await optionProblems('api-key', { keys: [{ name: 'a', key_sha256: 'secret' }] })) as [[string, string]];
    assert.equal(path, `${base}.keys[0].key_sha256`);
    assert.match(message, /expected the SHA-256 hex digest of the key \(64 hex digits\): printf %s KEY \| sha256sum/);
    const [[p2]] = (await optionProblems('api-key', { keys_file: 'k.txt', header: 'content-length' })) as [[string, string]];
    assert.equal(p2, `${base}.header`);
  });

  it('a keys file that is not there fails the load, saying where', async () => {
    const [[path, message]] = (await optionProblems('api-key', { keys_file: 'missing.txt' })) as [[string, string]];
    assert.equal(path, 'frontends.web.routes[0].plugins[0]');
    assert.match(message, /plugin "api-key" failed to set up: keys_file \(missing.txt\): no such file/);
  });
});
