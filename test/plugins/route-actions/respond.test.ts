import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echoOf, harnessGateways, optionProblems } from './fixture.ts';

const respond = (options: object) => ({ use: 'respond', options });

describe('respond', () => {
  const start = harnessGateways();

  it('answers with its status, body and headers on its route only, without reaching a server', async () => {
    const g = await start({
      backends: ['api'],
      routes: [
        {
          match: { path: '/maintenance' },
          plugins: [respond({ status: 503, body: 'Back soon ☕\n', headers: { 'Retry-After': 120, 'cache-control': 'no-store' } })],
        },
        { match: { path: '/api' }, backend: 'api' },
      ],
    });
    const res = await g.request('/maintenance/x');
    assert.equal(res.status, 503);
    assert.equal(res.body, 'Back soon ☕\n');
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-length'], String(Buffer.byteLength('Back soon ☕\n')));
    assert.equal(res.headers['retry-after'], '120');
    assert.equal(res.headers['cache-control'], 'no-store');
    assert.equal(g.origins.fallback!.requests.length + g.origins.api!.requests.length, 0, 'no server saw it');
    assert.equal(echoOf(await g.request('/api/x')).origin, 'api', 'another route is untouched');
    assert.equal(echoOf(await g.request('/x')).origin, 'fallback', 'the default is untouched');
  });

  it('defaults to 200 with an empty text body', async () => {
    const g = await start({ routes: [{ match: { path: { exact: '/healthz' } }, plugins: ['respond'] }] });
    const res = await g.request('/healthz');
    assert.equal(res.status, 200);
    assert.equal(res.body, '');
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
  });

  it('content_type sets the type of the body', async () => {
    const g = await start({
      routes: [{ match: { path: { exact: '/robots.txt' } }, plugins: [respond({ body: '{"ok":true}', content_type: 'application/problem+json' })] }],
    });
    const res = await g.request('/robots.txt');
    assert.equal(res.headers['content-type'], 'application/problem+json');
    assert.equal(res.body, '{"ok":true}');
  });

  it('answers HEAD with the head only, and 204 without a body or a type', async () => {
    const g = await start({
      routes: [
        { match: { path: '/text' }, plugins: [respond({ body: 'hello' })] },
        { match: { path: '/none' }, plugins: [respond({ status: 204, headers: { 'x-reason': 'empty' } })] },
      ],
    });
    const head = await g.request({ path: '/text', method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '5');
    assert.equal(head.body, '');
    const none = await g.request('/none');
    assert.equal(none.status, 204);
    assert.equal(none.headers['content-type'], undefined);
    assert.equal(none.headers['x-reason'], 'empty');
    assert.equal(none.body, '');
  });

  it("runs after the frontend's plugins: a frontend rewrite does not see a request the route answered", async () => {
    const g = await start({
      plugins: [{ use: 'rewrite', options: { response_headers: { set: { 'x-frontend': 'yes' } } } }],
      routes: [{ match: { path: '/fixed' }, plugins: [respond({ body: 'fixed' })] }],
    });
    const fixed = await g.request('/fixed');
    assert.equal(fixed.body, 'fixed');
    assert.equal(fixed.headers['x-frontend'], undefined, "response_headers apply to servers' responses");
    assert.equal((await g.request('/other')).headers['x-frontend'], 'yes');
  });

  it('check reports bad options with their key paths', async () => {
    const base = 'frontends.web.routes[0].plugins[0].options';
    const problems = (options: object) => optionProblems('respond', options);
    assert.deepEqual(await problems({ status: 99 }), [[`${base}.status`, 'plugin "respond" options: expected a status from 200 to 599, found 99']]);
    assert.deepEqual(await problems({ status: '404' }), [[`${base}.status`, 'plugin "respond" options: expected a number, found "404"']]);
    assert.deepEqual(await problems({ status: 304, body: 'x' }), [[`${base}.body`, 'plugin "respond" options: expected no body with status 304, found "x"']]);
    assert.deepEqual(await problems({ headers: { 'Content-Type': 'text/html' } }), [
      [`${base}.headers`, 'plugin "respond" options: expected the content type in `content_type`, not in `headers`, found a mapping'],
    ]);
    assert.deepEqual(await problems({ headers: { 'x-a': 'one\ntwo' } }), [
      [`${base}.headers.x-a`, 'plugin "respond" options: expected a header value without control characters or line breaks, found "one\\ntwo"'],
    ]);
    assert.deepEqual(await problems({ body: 42 }), [[`${base}.body`, 'plugin "respond" options: expected a string, found 42']]);
  });
});
