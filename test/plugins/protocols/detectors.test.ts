// The three built-in detectors together: registered by the plugin, disagreeing on each
// other's protocols, and never throwing or reading out of bounds, whatever the bytes.
import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Detector } from 'tapgate/sdk';
import { checkTestConfig, extensionsOf } from 'tapgate/sdk/testing';
import protocols, { detectHttp, detectSsh, detectTls } from '../../../plugins/protocols/index.ts';
import { buildClientHello, bytes, captureClientHello, guarded, inRecords, seeded } from './fixtures.ts';

const detectors: Record<string, Detector> = { tls: detectTls, http: detectHttp, ssh: detectSsh };
const FUZZ_CASES = 5_000;

describe('protocol detectors', () => {
  const samples: Record<string, Uint8Array> = {};
  before(async () => {
    samples.tls = await captureClientHello({ servername: 'db.example.com', ALPNProtocols: ['postgresql'] });
    samples['tls (fragmented)'] = inRecords(samples.tls.slice(5), 50);
    samples['tls (huge)'] = inRecords(buildClientHello({ sni: 'huge.test', alpn: ['h2'], versions: [0x0304], padding: 20_000 }), 16_384);
    samples.http = bytes('GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n');
    samples.ssh = bytes('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n');
  });

  it('are brought by the autoloaded protocols plugin as tls, http and ssh', async () => {
    const { detectors } = extensionsOf(protocols);
    assert.deepEqual([...detectors.keys()], ['tls', 'http', 'ssh']);
    assert.equal(detectors.get('tls'), detectTls);
    assert.equal(protocols.autoload, true);
    // A built-in: a config routes on the three without naming the plugin.
    const routes = ['tls', 'http', 'ssh'].map((protocol) => ({ match: { protocol }, backend: 'app' }));
    const checked = await checkTestConfig({
      config: {
        frontends: { edge: { bind: '127.0.0.1:0', mode: 'tcp', default_backend: 'app', routes } },
        backends: { app: { servers: [{ name: 's', address: '127.0.0.1:9' }] } },
      },
    });
    assert.deepEqual(
      checked.problems.map((p) => p.text),
      [],
    );
  });

  it("each recognise their own protocol and say undefined to the others'", () => {
    for (const [sample, b] of Object.entries(samples)) {
      const own = sample.split(' ')[0]!;
      for (const [name, detect] of Object.entries(detectors)) {
        const d = detect(guarded(b));
        if (name === own) assert.ok(d && d !== 'more' && d.protocol === own, `${name} on ${sample}: ${String(d)}`);
        else assert.equal(d, undefined, `${name} on ${sample}`);
      }
    }
  });

  it('never throw or read out of bounds on any prefix of a real first flight', () => {
    for (const b of Object.values(samples)) {
      for (let k = 0; k <= Math.min(b.length, 2_000); k++) for (const detect of Object.values(detectors)) detect(guarded(b.subarray(0, k)));
    }
  });

  it(`never throw or read out of bounds on ${FUZZ_CASES.toLocaleString('en-US')} random, truncated and mutated inputs`, () => {
    const random = seeded(6);
    const int = (n: number) => Math.floor(random() * n);
    const bases = Object.values(samples);
    const outcomes = new Map<string, number>();
    for (let c = 0; c < FUZZ_CASES; c++) {
      const base = bases[int(bases.length)]!;
      let input: Uint8Array;
      switch (c % 5) {
        case 0: // random bytes, often starting like a handshake record
          input = Uint8Array.from({ length: int(600) }, () => int(256));
          if (random() < 0.5 && input.length >= 3) input.set([22, 3, 1 + int(4)]);
          break;
        case 1: // truncated
          input = base.slice(0, int(base.length + 1));
          break;
        case 2: // a few bytes changed
          input = base.slice();
          for (let k = int(4) + 1; k > 0; k--) input[int(input.length)] = int(256);
          break;
        case 3: {
          // a 16-bit length pushed to an edge
          input = base.slice();
          const at = int(input.length - 1);
          const v = [0, 1, 0xffff, 0x7fff, ((input[at]! << 8) | input[at + 1]!) + (random() < 0.5 ? 1 : -1)][int(5)]!;
          input[at] = (v >> 8) & 255;
          input[at + 1] = v & 255;
          break;
        }
        default: // a slice cut out of the middle
          input = base.slice();
          input = Uint8Array.from([...input.subarray(0, int(input.length)), ...input.subarray(int(input.length))]);
      }
      for (const [name, detect] of Object.entries(detectors)) {
        let d: ReturnType<Detector>;
        assert.doesNotThrow(() => (d = detect(guarded(input))), `${name} on case ${c}`);
        const outcome = d! === undefined || d! === 'more' ? String(d!) : d!.protocol;
        if (d! !== undefined && d! !== 'more') {
          assert.equal(typeof d!.protocol, 'string');
          if (d!.sni !== undefined) assert.match(d!.sni, /^[a-z0-9._-]{1,255}$/);
          if (d!.host !== undefined) assert.match(d!.host, /^([a-z0-9._-]{1,255}|\[[0-9a-f:.]+\])$/);
          for (const p of d!.alpn ?? []) assert.ok(p.length > 0);
        }
        outcomes.set(`${name}:${outcome}`, (outcomes.get(`${name}:${outcome}`) ?? 0) + 1);
      }
    }
    // The mutations reach past the first checks: every detector still recognises some, waits on some, refuses some.
    for (const name of Object.keys(detectors)) {
      for (const outcome of ['more', 'undefined']) assert.ok(outcomes.get(`${name}:${outcome}`), `${name}:${outcome} in ${[...outcomes]}`);
      assert.ok(outcomes.get(`${name}:${name}`), `${name}:${name} in ${[...outcomes]}`);
    }
  });
});
