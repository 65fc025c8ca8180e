// ns per detection of a connection's first bytes by the built-in protocol detectors.
//
//   node --import tsx bench/detect.ts > bench/results/detect.md
//
// The ClientHello is a real one, captured from Node's own tls client (SNI and ALPN set),
// as the test fixtures capture it. Each input is timed with its own detector, and with
// all three asked in turn (tls, http, ssh), as an inspecting frontend asks them. Median
// of ROUNDS short rounds taken in turn across all rows, after a warm-up, in CPU time.
import os from 'node:os';
import { detectHttp, detectSsh, detectTls } from '../plugins/protocols/index.ts';
import type { Detector } from '../sdk/index.ts';
import { buildClientHello, captureClientHello, handshakeOf, inRecords } from '../test/plugins/protocols/fixtures.ts';

const ROUNDS = 25;
const ROUND_MS = 20;

const hello = await captureClientHello({ servername: 'api.example.com', ALPNProtocols: ['h2', 'http/1.1'] });
const inputs: [label: string, own: Detector, bytes: Uint8Array][] = [
  [`TLS ClientHello from Node (${hello.length} B, one record)`, detectTls, hello],
  [`the same hello in records of 100 B (reassembled)`, detectTls, inRecords(handshakeOf(hello), 100)],
  [
    'TLS ClientHello of 40 KiB (three records)',
    detectTls,
    inRecords(buildClientHello({ sni: 'pq.example.com', alpn: ['h2'], versions: [0x0304], padding: 40_000 }), 16_384),
  ],
  [
    'HTTP/1.1 GET head (4 headers)',
    detectHttp,
    Buffer.from('GET /index.html HTTP/1.1\r\nHost: www.example.com\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nConnection: keep-alive\r\n\r\n'),
  ],
  ['SSH banner', detectSsh, Buffer.from('SSH-2.0-OpenSSH_9.6p1 Ubuntu-3\r\n')],
];
const all: Detector = (b) => detectTls(b) ?? detectHttp(b) ?? detectSsh(b);

let sink = 0;
/** ns of this process's CPU time per detection over `n` detections. */
function round(detect: Detector, b: Uint8Array, n: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    const d = detect(b);
    sink += d === undefined ? 1 : d === 'more' ? 2 : d.protocol.length;
  }
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n;
}

interface Case {
  detect: Detector;
  bytes: Uint8Array;
  n: number;
  ns: number[];
}
function prepare(detect: Detector, bytes: Uint8Array): Case {
  let n = 1000;
  while (round(detect, bytes, n) * n < (ROUND_MS * 1e6) / 4) n *= 4;
  return { detect, bytes, n: Math.max(1000, Math.round((ROUND_MS * 1e6) / round(detect, bytes, n))), ns: [] };
}

const load = os.loadavg()[0]!;
const cases = inputs.map(([, own, bytes]) => [prepare(own, bytes), prepare(all, bytes)] as const);
for (let r = 0; r < ROUNDS; r++) for (const pair of cases) for (const c of pair) c.ns.push(round(c.detect, c.bytes, c.n));
const median = (xs: number[]) => Math.round(xs.slice().sort((a, b) => a - b)[xs.length >> 1]!).toLocaleString('en-US');
if (sink === 0) console.error('nothing detected');

const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
console.log(`# Protocol detectors: ns per detection

Node ${process.version}, ${os.cpus().length} × ${cpu}, load average ${load.toFixed(1)} at start, ${new Date().toISOString().slice(0, 10)}.
\`node --import tsx bench/detect.ts\`

One call of a detector on the whole first flight (what a frontend does once the bytes
are in); "all three" asks tls, http and ssh in turn until one does not say undefined,
as an inspecting frontend does. Median of ${ROUNDS} rounds of about ${ROUND_MS} ms each, taken in
turn across all rows, in CPU time of the process (not wall time: the machine may be
shared); lower is better.

| first bytes | own detector | all three |
| --- | ---: | ---: |
${inputs.map(([label], i) => `| ${label} | ${median(cases[i]![0].ns)} | ${median(cases[i]![1].ns)} |`).join('\n')}`);
