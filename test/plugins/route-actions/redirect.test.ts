import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { echoOf, harnessGateways, optionProblems } from './fixture.ts';

const redirect = (options: object) => ({ use: 'redirect', options });

describe('redirect', () => {
  const start = harnessGateways();

  it('answers with 302 and a Location built from the request, on its route only, without reaching a server', async () => {
    const g = await start({
      backends: ['api'],
      routes: [
        { match: { path: '/old' }, plugins: [redirect({ to: 'https://new.example.com{path}{query}' })] },
        { match: { path: '/api' }, backend: 'api' },
      ],
    });
    const res = await g.request({ path: '/old/page?a=1&b=2', headers: { host: 'www.example.com:8080' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, 'https://new.example.com/old/page?a=1&b=2');
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.body, 'Redirecting to https://new.example.com/old/page?a=1&b=2\n');
    assert.equal(g.origins.fallback!.requests.length, 0, 'no server saw it');
    assert.equal((await g.request('/old')).headers.location, 'https://new.example.com/old', 'no query, no "?"');
    assert.equal(echoOf(await g.request('/api/x')).origin, 'api', 'another route is untouched');
    assert.equal(echoOf(await g.request('/x')).origin, 'fallback', 'the default is untouched');
  });

  it('fills {scheme}, {host} (with its port), {hostname}, {path} and {query}', async () => {
    const g = await start({ plugins: [redirect({ to: '{scheme}://{hostname}:8443/v2{path}{query}#{host}', status: 301 })] });
    const res = await g.request({ path: '/a/b?c=d', headers: { host: 'Shop.Example.com:8080' } });
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, 'http://shop.example.com:8443/v2/a/b?c=d#Shop.Example.com:8080');
  });

  it('a path as target stays on the same host, even when the request path begins with //', async () => {
    const g = await start({ routes: [{ match: { path: '/' }, plugins: [redirect({ to: '/new{path}', status: 308 })] }] });
    const res = await g.request({ path: '/x?y', method: 'POST' });
    assert.equal(res.status, 308);
    assert.equal(res.headers.location, '/new/x');
    const top = await start({ plugins: [redirect({ to: '{path}/' })] });
    assert.equal((await top.request('//evil.example/x')).headers.location, '/evil.example/x/', 'not a protocol-relative URL to another host');
    assert.match(
      await top.raw('GET /\\evil.example/x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'),
      /\r\nlocation: \/evil\.example\/x\/\r\n/,
      'a browser reads /\\ as //',
    );
  });

  it('a fixed target ignores the request path', async () => {
    const g = await start({ routes: [{ match: { path: { exact: '/docs' } }, plugins: [redirect({ to: 'https://docs.example.com/', status: 301 })] }] });
    const res = await g.request('/docs?x=1');
    assert.equal(res.headers.location, 'https://docs.example.com/');
    assert.equal(echoOf(await g.request('/docs/other')).origin, 'fallback');
  });

  it('every status it allows: 301, 302, 303, 307, 308', async () => {
    const g = await start({
      routes: [301, 302, 303, 307, 308].map((status) => ({ match: { path: `/${status}` }, plugins: [redirect({ to: '/done', status })] })),
    });
    for (const status of [301, 302, 303, 307, 308]) assert.equal((await g.request(`/${status}`)).status, status);
  });

  it('https: true sends plain-HTTP requests to https on the same host (without its port), path and query', async () => {
    const g = await start({ plugins: [redirect({ https: true, status: 301 })] });
    const res = await g.request({ path: '/cart?item=3', headers: { host: 'shop.example.com:8080' } });
    assert.equal(res.status, 301);
    assert.equal(res.headers.location, 'https://shop.example.com/cart?item=3');
  });

  it('https: true lets requests that came over TLS pass, so a frontend serving both does not loop', async () => {
    const g = await start({ tls: true, plugins: [redirect({ https: true })] });
    const res = await g.request({ path: '/x?y=1', headers: { host: 'shop.example.com' } });
    assert.equal(res.status, 200);
    assert.equal(echoOf(res).url, '/x?y=1');
  });

  it('{scheme} is https for a request that came over TLS', async () => {
    const g = await start({ tls: true, plugins: [redirect({ to: '{scheme}://www.example.com{path}' })] });
    assert.equal((await g.request('/x')).headers.location, 'https://www.example.com/x');
  });

  it('answers HEAD with the head only', async () => {
    const g = await start({ plugins: [redirect({ https: true })] });
    const res = await g.request({ path: '/x', method: 'HEAD', headers: { host: 'a.example' } });
    assert.equal(res.status, 302);
    assert.equal(res.headers.location, 'https://a.example/x');
    assert.equal(res.body, '');
  });

  it('a request without a Host, or with one that is no host name, gets 400 when the target uses the host', async () => {
    const g = await start({ plugins: [redirect({ https: true })] });
    const raw = await g.raw('GET /x HTTP/1.0\r\n\r\n');
    assert.match(raw, /^HTTP\/1\.1 400 [^]*A redirect needs a valid Host header/);
    assert.doesNotMatch(raw, /location:/i);
    for (const host of ['user@evil.example', 'a.example/evil', 'a.example:80:80']) {
      const res = await g.request({ path: '/x', headers: { host } });
      assert.equal(res.status, 400, host);
      assert.equal(res.headers.location, undefined);
    }
    assert.equal((await g.request({ path: '/x', headers: { host: '[::1]:8080' } })).headers.location, 'https://[::1]/x');
    const fixed = await start({ plugins: [redirect({ to: '/elsewhere' })] });
    assert.equal((await fixed.raw('GET /x HTTP/1.0\r\n\r\n')).split('\r\n')[0], 'HTTP/1.1 302 Found', 'a target without the host needs none');
  });

  it('check reports bad options with their key paths', async () => {
    const base = 'frontends.web.routes[0].plugins[0].options';
    const problems = (options: object) => optionProblems('redirect', options);
    assert.deepEqual(await problems({ to: '/x', status: 200 }), [
      [`${base}.status`, 'plugin "redirect" options: expected one of 301, 302, 303, 307, 308, found 200'],
    ]);
    assert.deepEqual(await problems({ to: 'https://{hots}{path}' }), [
      [
        `${base}.to`,
        'plugin "redirect" options: unknown placeholder {hots}: expected {scheme}, {host}, {hostname}, {path}, {query}, found "https://{hots}{path}"',
      ],
    ]);
    assert.deepEqual(await problems({ to: 'ftp://files.example.com/' }), [
      [
        `${base}.to`,
        'plugin "redirect" options: expected a path starting with "/" or an http(s) URL, e.g. https://{hostname}{path}{query}, found "ftp://files.example.com/"',
      ],
    ]);
    assert.deepEqual(await problems({ to: 'new page' }), [
      [`${base}.to`, 'plugin "redirect" options: expected a path starting with "/" or an http(s) URL, e.g. https://{hostname}{path}{query}, found "new page"'],
    ]);
    assert.deepEqual(await problems({ to: '/x', https: true }), [
      [`${base}.https`, 'plugin "redirect" options: expected either `to` or `https: true`, not both, found true'],
    ]);
    assert.deepEqual(await problems({ status: 301 }), [[base, 'plugin "redirect" options: expected `to` (a path or URL) or `https: true`, found a mapping']]);
    assert.deepEqual(await problems({ to: '/x', code: 301 }), [
      [`${base}.code`, 'plugin "redirect" options: unknown key "code" (expected one of: to, https, status)'],
    ]);
  });
});
