// The built-in protocol detectors for TCP inspection: what a `mode: tcp` frontend asks
// about a connection's first bytes before it picks a route (`match: { protocol: tls }`,
// SNI, ALPN, Host). Each detector is a pure function of the bytes read so far.
import { defineDetector, definePlugin } from '../../sdk/index.ts';
import { detectTls } from './tls.ts';
import { detectHttp } from './http.ts';
import { detectSsh } from './ssh.ts';

export { detectTls, detectHttp, detectSsh };

export default definePlugin({
  name: 'protocols',
  version: '1.0.0',
  gateway: '^0.1',
  description: 'Protocol detectors for TCP inspection: TLS ClientHello (SNI, ALPN, version), HTTP/1.x request line and Host (and the h2c preface), SSH banner.',
  autoload: true,
  extensions: [
    defineDetector({ name: 'tls', description: 'a TLS ClientHello: SNI, ALPN, version', create: () => detectTls }),
    defineDetector({ name: 'http', description: 'an HTTP/1.x request line and Host, or the h2c preface', create: () => detectHttp }),
    defineDetector({ name: 'ssh', description: 'an SSH identification string', create: () => detectSsh }),
  ],
});
