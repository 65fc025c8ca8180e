// JWT benchmark: req/s through the gateway without the jwt plugin and with it verifying
// an RS256, ES256 or EdDSA bearer token on every request (one worker), next to the
// origin alone. The gateway is pinned to core 1, the origin and wrk to core 0 when
// taskset exists. Keys and tokens are made at start with jose.
//   node --import tsx bench/jwt.ts            → bench/results/jwt.md
//   BENCH_SECONDS=10 BENCH_ROUNDS=3 node --import tsx bench/jwt.ts
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { exportSPKI, generateKeyPair, SignJWT } from 'jose';
import {
  addedPerRequest,
  connections,
  formatRps,
  freePort,
  gatewayConfig,
  machine,
  measure,
  median,
  onCore,
  pinning,
  rounds,
  seconds,
  serveOrigin,
  startGateway,
  startOrigin,
  stop,
  timestamp,
  writeResultsFile,
  type Results,
} from './harness.ts';

const algorithms = ['RS256', 'ES256', 'EdDSA'] as const;

if (process.argv[2] === 'origin') {
  serveOrigin();
} else {
  await main();
}

async function main(): Promise<void> {
  const pin = pinning();
  const dir = mkdtempSync(join(os.tmpdir(), 'tapgate-jwt-bench-'));
  const tokens: Record<string, string> = {};
  for (const alg of algorithms) {
    const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
    writeFileSync(join(dir, `${alg}.pem`), await exportSPKI(publicKey));
    tokens[alg] = await new SignJWT({ sub: 'bench', scope: 'read', iss: 'https://id.example.com', aud: 'bench' })
      .setProtectedHeader({ alg, kid: alg })
      .setIssuedAt()
      .setExpirationTime('2h')
      .sign(privateKey);
  }
  const { origin, originPort } = await startOrigin(import.meta.url, pin);
  const results: Results = {};
  try {
    // Each algorithm twice: every request's signature checked (verified_tokens: 0), and the
    // default, where a token seen before skips the signature (exp, nbf and its key still checked).
    const scenarios: [string, (typeof algorithms)[number] | 'none' | 'direct', boolean][] = [
      ['direct (origin, no gateway)', 'direct', false],
      ['gateway, no jwt plugin', 'none', false],
      ...algorithms.map((alg): [string, (typeof algorithms)[number], boolean] => [`gateway + jwt, ${alg} token, signature checked every time`, alg, false]),
      ...algorithms.map((alg): [string, (typeof algorithms)[number], boolean] => [`gateway + jwt, ${alg} token, remembered (default)`, alg, true]),
    ];
    for (let round = 0; round < rounds; round++) {
      for (const [name, alg, remember] of scenarios) {
        let url = `http://127.0.0.1:${originPort}/`;
        let gateway: ChildProcess | undefined;
        if (alg !== 'direct') {
          const port = await freePort();
          const file = join(dir, `gw-${port}.yaml`);
          writeFileSync(file, gatewayConfig(port, originPort, 0, alg === 'none' ? undefined : jwtPlugin(alg, remember)));
          gateway = await startGateway(file, onCore(pin, 1));
          url = `http://127.0.0.1:${port}/`;
        }
        // A refused token would be a 401: fast, and wrong (measure warns of non-2xx answers).
        const headers = alg === 'direct' || alg === 'none' ? [] : [`Authorization: Bearer ${tokens[alg]}`];
        await measure(results, name, url, headers);
        if (gateway) await stop(gateway);
      }
    }
  } finally {
    await stop(origin);
    rmSync(dir, { recursive: true, force: true });
  }
  writeResults(results, pin);
}

function jwtPlugin(alg: string, remember: boolean): string {
  return `{ use: jwt, options: { keys: [{ file: ${alg}.pem, kid: ${alg} }], issuer: "https://id.example.com", audience: bench, verified_tokens: ${remember ? 10_000 : 0} } }`;
}

function writeResults(results: Results, pinned: boolean): void {
  const direct = median(results['direct (origin, no gateway)']!);
  const plain = median(results['gateway, no jwt plugin']!);
  const rows = Object.entries(results).map(([name, xs]) => {
    const m = median(xs);
    // CPU per request added by the plugin, from the one core the gateway has: 1/with − 1/without.
    const cost = name.startsWith('gateway + jwt') ? addedPerRequest(m, plain) : '';
    return `| ${name} | ${formatRps(m)} | ${(m / plain).toFixed(2)} | ${cost} | ${(m / direct).toFixed(2)} | ${xs.map(formatRps).join(', ')} |`;
  });
  const text = `# JWT benchmark

\`node --import tsx bench/jwt.ts\` (${timestamp()} UTC). A 1 KiB response, wrk -t1 -c${connections} -d${seconds}s with keep-alive,
every request carrying the same valid bearer token: "signature checked every time" with \`verified_tokens: 0\`, "remembered" with the default (a token seen before skips the signature; exp, nbf and its key are checked each time),
median of ${rounds} rounds, each gateway started afresh with a 1 s warm-up. Keys: RSA 2048, P-256, Ed25519 (PEM files).
tapgate runs one in-process worker${pinned ? ' pinned to core 1; the origin (node:http) and wrk share core 0' : ' (not pinned: taskset missing or one core)'}.
${machine()}
"added per request" is 1/(req/s with) − 1/(req/s without): the plugin's time on the gateway's one core.

| scenario | req/s (median) | × gateway without jwt | added per request | × direct | every round |
| --- | ---: | ---: | ---: | ---: | --- |
${rows.join('\n')}
`;
  writeResultsFile('jwt', text);
}
