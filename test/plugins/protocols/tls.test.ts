import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { detectTls, MAX_CLIENT_HELLO } from '../../../plugins/protocols/tls.ts';
import { buildClientHello, captureClientHello, guarded, handshakeOf, inRecords } from './fixtures.ts';

const detect = (b: Uint8Array) => detectTls(guarded(b));
const facts = (b: Uint8Array) => {
  const d = detect(b);
  assert.ok(d && d !== 'more', `expected a ClientHello, got ${String(d)}`);
  return { sni: d.sni, alpn: d.alpn, version: d.version };
};
/** Every proper prefix is 'more'; the whole gives the result. */
function assertMoreUntilWhole(b: Uint8Array): void {
  for (let k = 0; k < b.length; k++) assert.equal(detect(b.subarray(0, k)), 'more', `prefix of ${k} of ${b.length} bytes`);
  const d = detect(b);
  assert.ok(d && d !== 'more' && d.protocol === 'tls', String(d));
}
/** `b` with the big-endian 16-bit value at `at` replaced. */
const with16 = (b: Uint8Array, at: number, v: number) => {
  const c = b.slice();
  c[at] = v >> 8;
  c[at + 1] = v & 255;
  return c;
};

describe('TLS ClientHello detector', () => {
  let modern: Uint8Array;
  let tls12: Uint8Array;
  let bare: Uint8Array;
  before(async () => {
    modern = await captureClientHello({ servername: 'Api.Example.COM', ALPNProtocols: ['h2', 'http/1.1'] });
    tls12 = await captureClientHello({ servername: 'legacy.example.com', ALPNProtocols: ['http/1.1'], maxVersion: 'TLSv1.2' });
    // Node sends no server_name for an IP address.
    bare = await captureClientHello({});
  });

  describe("Node's own tls client", () => {
    it('gives the server name in lower case, the ALPN list in order and TLSv1.3', () => {
      assert.deepEqual(facts(modern), { sni: 'api.example.com', alpn: ['h2', 'http/1.1'], version: 'TLSv1.3' });
    });

    it('gives TLSv1.2 when the client offers no more (from client_version, no supported_versions)', () => {
      assert.deepEqual(facts(tls12), { sni: 'legacy.example.com', alpn: ['http/1.1'], version: 'TLSv1.2' });
    });

    it('gives neither server name nor ALPN when the client sends none', () => {
      assert.deepEqual(facts(bare), { sni: undefined, alpn: undefined, version: 'TLSv1.3' });
    });

    it('answers more for every prefix, fed byte by byte, until the whole hello is there', () => {
      assertMoreUntilWhole(modern);
      assertMoreUntilWhole(tls12);
    });

    it('ignores what follows the hello (an early-data record)', () => {
      const after = Uint8Array.from([...modern, 23, 3, 3, 0, 2, 1, 2]);
      assert.deepEqual(facts(after), facts(modern));
    });
  });

  describe('a hello over several records', () => {
    it('is reassembled when split mid-handshake, whatever the sizes of the records', () => {
      const handshake = handshakeOf(modern);
      for (const size of [1, 2, 3, 7, 100, handshake.length - 1]) {
        assert.deepEqual(facts(inRecords(handshake, size)), facts(modern), `records of ${size} bytes`);
      }
      assert.deepEqual(facts(inRecords(handshake, [2, 3, 50])), facts(modern), 'the handshake header itself split');
    });

    it('answers more until the last record is whole', () => {
      assertMoreUntilWhole(inRecords(handshakeOf(modern), 100));
      assertMoreUntilWhole(inRecords(handshakeOf(tls12), [3, 1, 64]));
    });

    it('reads a 40 KiB hello (large key shares, padding) across three records', () => {
      const huge = inRecords(buildClientHello({ sni: 'pq.example.com', alpn: ['h2'], versions: [0x0304, 0x0303], padding: 40_000 }), 16_384);
      assert.ok(huge.length > 2 * 16_384);
      assert.deepEqual(facts(huge), { sni: 'pq.example.com', alpn: ['h2'], version: 'TLSv1.3' });
      for (const k of [5, 16_389, 16_390, 32_000, huge.length - 1]) assert.equal(detect(huge.subarray(0, k)), 'more');
    });

    it(`refuses a hello announced larger than ${MAX_CLIENT_HELLO / 1024} KiB as soon as its header arrives`, () => {
      const tooBig = inRecords(buildClientHello({ sni: 'x.test', padding: MAX_CLIENT_HELLO }), 16_384);
      assert.equal(detect(tooBig.subarray(0, 9)), undefined);
      assert.equal(detect(tooBig), undefined);
      const atLimit = inRecords(buildClientHello({ sni: 'x.test', padding: MAX_CLIENT_HELLO - 200 }), 16_384);
      assert.equal(facts(atLimit).sni, 'x.test');
    });

    it('refuses another content type between the fragments', () => {
      const split = inRecords(handshakeOf(modern), 100);
      const alert = split.slice();
      alert[105] = 21;
      assert.equal(detect(alert), undefined);
    });
  });

  describe('extensions', () => {
    const one = (spec: Parameters<typeof buildClientHello>[0]) => facts(inRecords(buildClientHello(spec), 16_384));

    it('takes the highest known version from supported_versions, skipping GREASE', () => {
      assert.equal(one({ versions: [0x1a1a, 0x0303, 0x0304, 0x7f1c] }).version, 'TLSv1.3');
      assert.equal(one({ versions: [0x0302, 0x0301] }).version, 'TLSv1.1');
      assert.equal(one({ versions: [0xfafa], clientVersion: 0x0303 }).version, 'TLSv1.2');
    });

    it('falls back to client_version without supported_versions (even with no extensions at all)', () => {
      assert.equal(one({ clientVersion: 0x0301 }).version, 'TLSv1');
      const noExtensions = buildClientHello({ clientVersion: 0x0302 });
      // Drop the empty extensions block (2 bytes) and fix the handshake length.
      const trimmed = noExtensions.slice(0, -2);
      trimmed[3] -= 2;
      assert.deepEqual(facts(inRecords(trimmed, 16_384)), { sni: undefined, alpn: undefined, version: 'TLSv1.1' });
    });

    it('omits a server name that cannot be a host name, and still says tls', () => {
      assert.equal(one({ sni: 'bad name.example' }).sni, undefined);
      assert.equal(one({ sni: 'ex\u00e4mple.com' }).sni, undefined);
      assert.equal(one({ sni: '' }).sni, undefined);
      assert.equal(one({ sni: 'under_score-1.Example.com' }).sni, 'under_score-1.example.com');
    });

    it('keeps ALPN names as sent, in order', () => {
      assert.deepEqual(one({ alpn: ['http/1.1', 'h2', 'acme-tls/1'] }).alpn, ['http/1.1', 'h2', 'acme-tls/1']);
    });

    it('refuses a hello with the same extension twice, an empty ALPN list or an empty ALPN name', () => {
      const sni = (name: string) => {
        const n = Buffer.from(name);
        return Uint8Array.from([0, n.length + 3, 0, 0, n.length, ...n]);
      };
      assert.equal(detect(inRecords(buildClientHello({ sni: 'a.test', extra: [[0, sni('b.test')]] }), 16_384)), undefined);
      assert.equal(detect(inRecords(buildClientHello({ extra: [[16, Uint8Array.from([0, 0])]] }), 16_384)), undefined);
      assert.equal(detect(inRecords(buildClientHello({ extra: [[16, Uint8Array.from([0, 3, 0, 1, 104])]] }), 16_384)), undefined);
    });

    it('refuses a name whose length runs past its list, even when more bytes follow', () => {
      const after: [number, Uint8Array] = [0xffce, new Uint8Array(64)];
      assert.equal(detect(inRecords(buildClientHello({ extra: [[16, Uint8Array.from([0, 3, 5, 104, 50])], after] }), 16_384)), undefined, 'ALPN');
      assert.equal(detect(inRecords(buildClientHello({ extra: [[0, Uint8Array.from([0, 5, 0, 0, 9, 97, 98])], after] }), 16_384)), undefined, 'server name');
      // Last in the hello, at the end of the bytes: a read past the list would be a read out of bounds.
      assert.equal(detect(inRecords(buildClientHello({ extra: [[0, Uint8Array.from([0, 2, 0, 0])]] }), 16_384)), undefined, 'server name header');
      assert.equal(detect(inRecords(buildClientHello({ extra: [[43, Uint8Array.from([4, 3, 4])], after] }), 16_384)), undefined, 'supported_versions');
    });
  });

  describe('not TLS, or broken', () => {
    it('turns down other content types, record versions and empty or oversized records at once', () => {
      assert.equal(detect(Uint8Array.of(23)), undefined, 'application data');
      assert.equal(detect(Uint8Array.of(22, 2)), undefined, 'SSL 2');
      assert.equal(detect(Uint8Array.of(22, 3, 0)), undefined, 'SSL 3 record');
      assert.equal(detect(Uint8Array.of(22, 3, 5)), undefined, 'unknown record version');
      assert.equal(detect(Uint8Array.of(22, 3, 1, 0, 0)), undefined, 'zero-length record');
      assert.equal(detect(Uint8Array.of(22, 3, 1, 0x40, 1)), undefined, 'record over 2^14 bytes');
      assert.equal(detect(Uint8Array.of(22, 3, 1, 0, 50, 2)), undefined, 'ServerHello');
      assert.equal(detect(Uint8Array.of(22, 3, 1, 0, 50, 1, 0, 0, 10)), undefined, 'hello too short to hold its fields');
      assert.equal(detect(Uint8Array.of(22, 3, 1, 0, 50, 1, 0, 0, 46, 4)), undefined, 'client_version not 3.x');
    });

    it('refuses a hello whose inner lengths disagree with its size', () => {
      const hs = 9;
      const sessionAt = hs + 2 + 32;
      const suitesAt = sessionAt + 1 + modern[sessionAt]!;
      assert.equal(detect(with16(modern, suitesAt, 0xffff)), undefined, 'cipher suites past the end');
      assert.equal(detect(with16(modern, suitesAt, 3)), undefined, 'odd cipher suites length');
      assert.equal(facts(inRecords(buildClientHello({ sessionId: 0, sni: 'a.test' }), 16_384)).sni, 'a.test');
      assert.equal(detect(inRecords(buildClientHello({ sessionId: 33, sni: 'a.test' }), 16_384)), undefined, 'session id over 32 bytes');
      const suites = (modern[suitesAt]! << 8) | modern[suitesAt + 1]!;
      const extensionsAt = suitesAt + 2 + suites + 1 + modern[suitesAt + 2 + suites]!;
      const declared = (modern[extensionsAt]! << 8) | modern[extensionsAt + 1]!;
      assert.equal(detect(with16(modern, extensionsAt, declared + 1)), undefined, 'extensions longer than the hello');
      assert.equal(detect(with16(modern, extensionsAt, declared - 1)), undefined, 'extensions shorter than the hello');
    });
  });
});
