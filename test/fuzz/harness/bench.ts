// The bench a fuzz file runs against: the recording origin, the echo server, the gateway
// process, and the checks every case ends with (the process alive, its log clean, no
// server charged, the origin seeing nothing malformed, a normal request served).
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import type { StatsReport } from '../../../plugins/stats/report.ts';
import { masterSetup, singleProcessSetup, type FuzzSetup, type HttpFrontend, type TcpFrontend } from './configs.ts';
import { startGatewayProcess, troubleLines, type GatewayProcess } from './gateway-process.ts';
import { startEchoServer, startFuzzOrigin, type EchoServer, type FuzzOrigin } from './origins.ts';

/** Counters that must not move while a gateway is fuzzed: each is a server charged, a 5xx or a plugin's failure. */
type Charges = Map<string, number>;

function chargesOf(report: StatsReport): Charges {
  const c: Charges = new Map();
  for (const fe of report.frontends) c.set(`frontend ${fe.name}: 5xx responses`, fe.responses['5xx'] ?? 0);
  for (const be of report.backends) {
    c.set(`backend ${be.name}: connection errors`, be.errors.connection);
    c.set(`backend ${be.name}: response errors`, be.errors.response);
    c.set(`backend ${be.name}: 5xx responses`, be.responses['5xx'] ?? 0);
    for (const s of be.servers) {
      c.set(`server ${be.name}/${s.name}: connection errors`, s.errors.connection);
      c.set(`server ${be.name}/${s.name}: response errors`, s.errors.response);
      c.set(`server ${be.name}/${s.name}: 5xx responses`, s.responses['5xx'] ?? 0);
    }
  }
  for (const p of report.plugins) c.set(`plugin ${p.name}: tap errors`, p.errors);
  return c;
}

export interface Snapshot {
  charges: Charges;
  stderr: number;
  stdout: number;
  seen: number;
  anomalies: number;
  workers: number[];
}

export interface FuzzBench {
  setup: FuzzSetup;
  origin: FuzzOrigin;
  echo: EchoServer;
  /** The gateway now (restarted when a case killed it). */
  gateway(): GatewayProcess;
  /** Before a case: the gateway running (started again if the last case killed it), and the counters as they are. */
  before(): Promise<Snapshot>;
  /**
   * After a case: every problem the bench sees, none when all is well. `normal` is the frontend
   * that must serve a normal request.
   */
  after(before: Snapshot, normal: HttpFrontend | TcpFrontend, kind: 'http' | 'h2' | 'tcp'): Promise<string[]>;
  /** What the gateway logged during the case (access log and event log), for a failure's report. */
  logSince(before: Snapshot): string[];
  close(): Promise<void>;
}

export async function startBench(kind: 'single' | 'master'): Promise<FuzzBench> {
  const origin = await startFuzzOrigin();
  const echo = await startEchoServer();
  let setup: FuzzSetup;
  let gateway: GatewayProcess;
  // A port taken meanwhile by another process on this machine fails the start: try again on others.
  for (let attempt = 1; ; attempt++) {
    try {
      setup = kind === 'single' ? await singleProcessSetup(origin, echo) : await masterSetup(origin);
      gateway = await startGatewayProcess(setup.config, setup.files);
      break;
    } catch (err) {
      if (attempt < 3 && /already bound|EADDRINUSE/.test((err as Error).message)) continue;
      await origin.close();
      await echo.close();
      throw err;
    }
  }
  const master = kind === 'master';

  const report = async (): Promise<StatsReport> => {
    const res = await fetch(`http://127.0.0.1:${setup.statsPort}/stats.json`);
    if (res.status !== 200) throw new Error(`the stats listener answered ${res.status}`);
    return (await res.json()) as StatsReport;
  };
  /** Waits (bounded) for every session to end: what a case set off is counted before it is judged. */
  const settled = async (): Promise<StatsReport> => {
    const deadline = performance.now() + 6000;
    for (;;) {
      const r = await report();
      const busy = r.frontends.some((f) => f.sessions.current > 0) || r.backends.some((b) => b.sessions.current > 0);
      if (!busy || performance.now() > deadline) return r;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };

  return {
    setup,
    origin,
    echo,
    gateway: () => gateway,
    before: async () => {
      // A gateway that the last case killed (or that is dying and no longer answers) is started again.
      let counters = gateway.exit() === undefined ? await settled().catch(() => undefined) : undefined;
      if (!counters) {
        await gateway.exited(5000);
        await gateway.stop();
        gateway = await startGatewayProcess(setup.config, setup.files);
        counters = await settled();
      }
      return {
        charges: chargesOf(counters),
        stderr: gateway.stderr.length,
        stdout: gateway.stdout.length,
        seen: origin.seen.length,
        anomalies: origin.anomalies.length,
        workers: master ? await gateway.workers() : [],
      };
    },
    after: async (before, fe, kind) => {
      const problems: string[] = [];
      const normal = await normalRequest(fe, kind);
      // A normal request that failed may be the first sign of a process on its way out.
      const exited = normal ? await gateway.exited(1000) : gateway.exit();
      if (exited !== undefined) {
        problems.push(`the gateway process died (${exited})`);
        problems.push(
          ...troubleLines(gateway.stderr.slice(before.stderr))
            .slice(0, 20)
            .map((l) => `  stderr: ${l.slice(0, 400)}`),
        );
        return problems;
      }
      if (normal) problems.push(normal);
      const now = chargesOf(
        await settled().catch((err) => {
          problems.push(`the stats listener did not answer: ${(err as Error).message}`);
          return { frontends: [], backends: [], plugins: [] } as unknown as StatsReport;
        }),
      );
      for (const [name, value] of now) {
        const was = before.charges.get(name) ?? 0;
        if (value > was) problems.push(`${name} went from ${was} to ${value}`);
      }
      if (master) {
        const workers = await gateway.workers().catch(() => []);
        if (workers.join() !== before.workers.join())
          problems.push(`the workers changed: ${before.workers.join(', ')} -> ${workers.join(', ')} (a worker exited)`);
      }
      for (const line of troubleLines(gateway.stderr.slice(before.stderr))) problems.push(`the gateway logged: ${line.slice(0, 600)}`);
      for (const a of origin.anomalies.slice(before.anomalies)) problems.push(a);
      return problems;
    },
    logSince: (before) =>
      [...gateway.stdout.slice(before.stdout).map((l) => `access: ${l}`), ...gateway.stderr.slice(before.stderr).map((l) => `event: ${l}`)].slice(0, 40),
    close: async () => {
      await gateway.stop();
      await origin.close();
      await echo.close();
    },
  };
}

/** A plain request the frontend must serve as usual; a problem's text when it does not. */
async function normalRequest(fe: HttpFrontend | TcpFrontend, kind: 'http' | 'h2' | 'tcp'): Promise<string | undefined> {
  try {
    if (kind === 'tcp') return await echoRoundTrip(fe.port);
    const f = fe as HttpFrontend;
    const status = kind === 'h2' ? await h2Get(f) : await h1Get(f);
    return status === f.normal.status ? undefined : `a normal request right after got ${status}, expected ${f.normal.status}`;
  } catch (err) {
    return `a normal request right after failed: ${(err as Error).message}`;
  }
}

function h1Get(fe: HttpFrontend): Promise<number> {
  return new Promise((resolve, reject) => {
    const options = {
      host: '127.0.0.1',
      port: fe.port,
      path: fe.normal.path,
      headers: fe.normal.headers,
      agent: false as const,
      timeout: 5000,
      rejectUnauthorized: false,
    };
    const req = (fe.tls ? https : http).get(options, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode!));
    });
    req.on('timeout', () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
  });
}

function h2Get(fe: HttpFrontend): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`${fe.tls ? 'https' : 'http'}://127.0.0.1:${fe.port}`, { rejectUnauthorized: false });
    const timer = setTimeout(() => session.destroy(new Error('no answer in 5 s')), 5000);
    session.on('error', reject);
    const req = session.request({ ':path': fe.normal.path, ...fe.normal.headers });
    req.on('response', (h) => {
      req.resume();
      req.on('end', () => {
        clearTimeout(timer);
        session.close();
        resolve(Number(h[':status']));
      });
    });
    req.on('error', reject);
  });
}

/** Through a tcp frontend to the echo server: what goes in comes back. */
function echoRoundTrip(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write('fuzz: a normal connection\n'));
    let back = '';
    const timer = setTimeout(() => finish(`a normal connection right after got ${JSON.stringify(back)} in 5 s, expected its bytes echoed`), 5000);
    const finish = (problem: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(problem);
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      back += d;
      if (back === 'fuzz: a normal connection\n') finish(undefined);
    });
    socket.on('error', (err) => finish(`a normal connection right after failed: ${err.message}`));
  });
}
