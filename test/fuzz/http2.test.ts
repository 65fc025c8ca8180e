// Fuzz: HTTP/2 frame sequences against the frontends that speak HTTP/2 (h2c with prior
// knowledge, TLS with ALPN h2, and h2c handed over by a tcp frontend's detector). The
// gateway never answers 5xx nor INTERNAL_ERROR, charges no server, lives on without
// logging an error, and serves a normal HTTP/2 request right after.
import { after, before, describe, it } from 'node:test';
import { connection, wellFormedConnection } from './arbitraries/http2.ts';
import { startBench, type FuzzBench } from './harness/bench.ts';
import type { HttpFrontend } from './harness/configs.ts';
import { runH2Case, showH2Case } from './harness/h2-case.ts';
import { fuzz } from './harness/property.ts';

describe('HTTP/2 frame sequences under fuzz', () => {
  let bench: FuzzBench;
  before(async () => void (bench = await startBench('single')));
  after(() => bench?.close());

  const frontend = (name: string): HttpFrontend => {
    if (name !== 'edge') return bench.setup.http.find((f) => f.name === name)!;
    const edge = bench.setup.tcp.find((f) => f.name === 'edge')!;
    return {
      name: 'edge',
      about: 'h2c handed over by a tcp frontend that detected it',
      port: edge.port,
      tls: false,
      h2: true,
      normal: { path: '/', headers: {}, status: 200 },
    };
  };

  for (const name of ['h2c', 'tls', 'edge']) {
    it(`${name}: well-formed HTTP/2 requests and allowed floods are served, and leave the gateway serving`, async () => {
      const fe = frontend(name);
      await fuzz(
        `${name}: well-formed HTTP/2 frame sequences`,
        wellFormedConnection.map((c) => ({ fe, connection: c })),
        (c) => runH2Case(bench, c),
        { runs: 4, show: showH2Case },
      );
    });
  }

  for (const name of ['h2c', 'tls', 'edge']) {
    it(`${name}: random HTTP/2 frames, floods and bad header blocks get no 5xx and leave the gateway serving`, async () => {
      const fe = frontend(name);
      await fuzz(
        `${name}: HTTP/2 frame sequences`,
        connection.map((c) => ({ fe, connection: c })),
        (c) => runH2Case(bench, c),
        { runs: 4, show: showH2Case },
      );
    });
  }
});
