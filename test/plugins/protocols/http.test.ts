import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectHttp, MAX_HEAD } from '../../../plugins/protocols/http.ts';
import { bytes, guarded } from './fixtures.ts';

const detect = (s: string) => detectHttp(guarded(bytes(s)));
const facts = (s: string) => {
  const d = detect(s);
  assert.ok(d && d !== 'more', `expected HTTP, got ${String(d)} for ${JSON.stringify(s)}`);
  return d;
};
const hostOf = (headers: string, target = '/') => facts(`GET ${target} HTTP/1.1\r\n${headers}\r\n`).host;

describe('HTTP/1.x detector', () => {
  it('recognises a request line of every method, with target and version', () => {
    const methods = [
      'GET',
      'HEAD',
      'POST',
      'PUT',
      'DELETE',
      'CONNECT',
      'OPTIONS',
      'TRACE',
      'PATCH',
      'PROPFIND',
      'MKCOL',
      'VERSION-CONTROL',
      'UPDATEREDIRECTREF',
    ];
    for (const method of methods) {
      assert.deepEqual(facts(`${method} /a/b?c=d HTTP/1.1\r\nHost: example.com\r\n\r\n`), {
        protocol: 'http',
        method,
        path: '/a/b?c=d',
        version: 'HTTP/1.1',
        host: 'example.com',
      });
    }
    assert.equal(facts('GET / HTTP/1.0\r\n\r\n').version, 'HTTP/1.0');
    assert.equal(facts('OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n').path, '*');
    assert.equal(facts('CONNECT db.example.com:5432 HTTP/1.1\r\nHost: db.example.com:5432\r\n\r\n').path, 'db.example.com:5432');
  });

  it('answers more for every prefix, fed byte by byte, until the head is complete', () => {
    const request = 'POST /upload HTTP/1.1\r\nHost: Up.Example.com\r\nContent-Length: 5\r\n\r\n';
    for (let k = 0; k < request.length; k++) assert.equal(detect(request.slice(0, k)), 'more', JSON.stringify(request.slice(0, k)));
    assert.equal(facts(request).host, 'up.example.com');
    assert.equal(facts(`${request}hello`).method, 'POST', 'the body does not matter');
    for (const prefix of ['GE', 'GET /abc', 'GET /abc HTTP/1.', 'GET / HTTP/1.1\r', 'GET / HTTP/1.1\r\nHost: a\r\n']) assert.equal(detect(prefix), 'more');
  });

  it(`gives the request line without Host once ${MAX_HEAD / 1024} KiB arrive without the end of the head`, () => {
    const line = 'GET /big HTTP/1.1\r\nHost: big.example.com\r\n';
    const filler = `X-Filler: ${'a'.repeat(MAX_HEAD)}\r\n`;
    assert.equal(detect(`${line}${filler}`.slice(0, MAX_HEAD - 1)), 'more');
    assert.deepEqual(facts(`${line}${filler}`.slice(0, MAX_HEAD)), { protocol: 'http', method: 'GET', path: '/big', version: 'HTTP/1.1', host: undefined });
    assert.equal(detect(`GET /${'a'.repeat(MAX_HEAD)}`), undefined, 'a request line longer than that is refused');
  });

  describe('Host', () => {
    it('is in lower case, without the port, and optional whitespace trimmed', () => {
      assert.equal(hostOf('Host: API.Example.com:8443\r\n'), 'api.example.com');
      assert.equal(hostOf('host:\t a.example.com \r\n'), 'a.example.com');
      assert.equal(hostOf('Accept: */*\r\nHOST: b.example.com\r\nX: y\r\n'), 'b.example.com');
      assert.equal(hostOf('Host: [2001:DB8::1]:8080\r\n'), '[2001:db8::1]');
      assert.equal(hostOf('Host: 10.0.0.1\r\n'), '10.0.0.1');
    });

    it('comes from an absolute-form target rather than the Host header', () => {
      assert.equal(hostOf('Host: other.example.com\r\n', 'http://Proxy.Example.com:3128/x?y'), 'proxy.example.com');
      assert.equal(hostOf('', 'https://secure.example.com'), 'secure.example.com');
      assert.equal(hostOf('Host: good.example.com\r\n', 'http://user@evil.example.com/'), undefined, 'not even when the authority is no host');
    });

    it('is absent when missing, repeated, empty or not a host', () => {
      assert.equal(hostOf('Accept: */*\r\n'), undefined);
      assert.equal(hostOf('Host: a.example.com\r\nHost: b.example.com\r\n'), undefined);
      assert.equal(hostOf('Host: \r\n'), undefined);
      assert.equal(hostOf('Host: a.example.com:80x\r\n'), undefined);
      assert.equal(hostOf('Host: a b\r\n'), undefined);
      assert.equal(hostOf('Host: []:80\r\n'), undefined);
      assert.equal(hostOf('Host: [::1\r\n'), undefined);
      assert.equal(hostOf('Host : a.example.com\r\n'), undefined);
      assert.equal(hostOf('X-Host: a.example.com\r\n'), undefined);
    });
  });

  it('recognises the HTTP/2 prior-knowledge preface as h2c', () => {
    const preface = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
    for (let k = 0; k < preface.length; k++) assert.equal(detect(preface.slice(0, k)), 'more');
    assert.deepEqual(detect(preface), { protocol: 'h2c', version: 'HTTP/2' });
    assert.equal(detect('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n'), undefined);
  });

  it('turns down what is not an HTTP/1.0 or 1.1 request line', () => {
    for (const s of [
      'get / HTTP/1.1\r\n', // methods are capitals
      'GET  / HTTP/1.1\r\n',
      'GET / HTTP/1.2\r\n',
      'GET / HTTP/2.0\r\n',
      'GET / http/1.1\r\n',
      'GET /\r\n', // HTTP/0.9
      'GET / HTTP/1.1\n\n', // bare LF
      'GET /a b HTTP/1.1\r\n',
      'GET /\u00e9 HTTP/1.1\r\n',
      'GET /\x00 HTTP/1.1\r\n',
      '-GET / HTTP/1.1\r\n',
      `${'A'.repeat(25)} / HTTP/1.1\r\n`,
      'SSH-2.0-OpenSSH_9.6\r\n',
      'HELO mail.example.com\r\n',
      '220 smtp.example.com ESMTP\r\n',
      '\x16\x03\x01',
      '{"jsonrpc":"2.0"}',
      ' GET / HTTP/1.1\r\n',
    ]) {
      assert.equal(detect(s), undefined, JSON.stringify(s));
    }
  });
});
