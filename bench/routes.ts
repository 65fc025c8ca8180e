// ns per route lookup with 10 and 10,000 host routes (the built-in switch plugin's
// router), against trying every route in order. CPU time of a tight loop; run with
// `node --import tsx bench/routes.ts`; writes bench/results/routes.md.
import { writeFileSync } from 'node:fs';
import { Router } from '../plugins/switch/router.ts';
import { builtinMatchers } from '../plugins/switch/matchers.ts';
import { compileCondition } from '../core/routes.ts';
import { type RouteView } from '../sdk/routes.ts';
import { HttpContext } from '../core/http/context.ts';

const matchers = new Map(builtinMatchers.map((m) => [m.name, m]));

function table(n: number): RouteView[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `r${i}`,
    frontend: 'web',
    index: i,
    backend: `b${i}`,
    handoff: undefined,
    plugins: [],
    condition: compileCondition({ host: `host${i}.example.com`, path: '/' }, 'http', matchers, [], () => {
      throw new Error('bad');
    }),
  }));
}

function measure(n: number): { indexed: number; linear: number } {
  const routes = table(n);
  const router = new Router(routes);
  const requests = Array.from({ length: 1000 }, (_, i) => {
    const ctx = new HttpContext(
      'web',
      1,
      'GET',
      '/x',
      '1.1',
      { host: `host${(i * 7919) % n}.example.com` },
      { address: '127.0.0.1', port: 1 },
      { address: '127.0.0.1', port: 80 },
      undefined,
      0,
    );
    void ctx.host;
    return ctx;
  });
  const run = (select: (c: HttpContext) => RouteView | undefined, rounds: number) => {
    let found = 0;
    const start = process.cpuUsage();
    for (let r = 0; r < rounds; r++) for (const c of requests) if (select(c)) found++;
    const used = process.cpuUsage(start);
    if (found !== rounds * requests.length) throw new Error('a lookup failed');
    return ((used.user + used.system) * 1000) / (rounds * requests.length);
  };
  const indexed = (c: HttpContext) => router.select(c);
  const linear = (c: HttpContext) => routes.find((r) => r.condition!.test(c));
  run(indexed, 200);
  const linearRounds = n > 1000 ? 2 : 200;
  return { indexed: median([1, 2, 3].map(() => run(indexed, 500))), linear: median([1, 2, 3].map(() => run(linear, linearRounds))) };
}

const median = (xs: number[]) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const rows = [10, 1000, 10_000].map((n) => ({ n, ...measure(n) }));
const md = [
  '# Route lookup: ns per request by number of host routes',
  '',
  `Node ${process.version}, ${new Date().toISOString().slice(0, 10)}; CPU time, median of 3; each route is \`{ host: hostN.example.com, path: / }\`.`,
  '',
  '| host routes | switch router (indexed) | every route in order |',
  '|---:|---:|---:|',
  ...rows.map((r) => `| ${r.n.toLocaleString('en')} | ${r.indexed.toFixed(0)} ns | ${r.linear.toFixed(0)} ns |`),
  '',
].join('\n');
writeFileSync(new URL('./results/routes.md', import.meta.url), md);
console.log(md);
