// The fuzz harness's own test: each thing a property checks, made to happen on purpose,
// is reported. Without this, a property that cannot fail would pass the same.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startBench, type FuzzBench } from './harness/bench.ts';
import { exchange } from './harness/exchange.ts';

describe('the fuzz harness', () => {
  describe('against one gateway process', () => {
    let bench: FuzzBench;
    before(async () => void (bench = await startBench('single')));
    after(() => bench?.close());

    it('reports a 5xx and a server charged when a request meets a server that refuses connections', async () => {
      const broken = bench.setup.http.find((f) => f.name === 'broken')!;
      const was = await bench.before();
      await exchange({ port: broken.port }, [Buffer.from('GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n')], {
        finish: 'hold',
        quietMs: 2000,
        maxMs: 5000,
      });
      const problems = await bench.after(was, broken, 'http');
      assert.ok(
        problems.some((p) => p.startsWith('frontend broken: 5xx responses went from')),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => p.startsWith('server broken/dead: connection errors went from')),
        problems.join('\n'),
      );
    });

    it('reports a gateway process that died, and starts it again for the next case', async () => {
      const plain = bench.setup.http.find((f) => f.name === 'plain')!;
      const was = await bench.before();
      const dead = bench.gateway();
      dead.child.kill('SIGKILL');
      assert.ok((await dead.exited(5000)) !== undefined);
      const problems = await bench.after(was, plain, 'http');
      assert.match(problems[0] ?? '', /^the gateway process died/);
      await bench.before();
      assert.notEqual(bench.gateway(), dead);
      assert.deepEqual(await bench.after(await bench.before(), plain, 'http'), []);
    });
  });

  describe('against a master with two workers', () => {
    let bench: FuzzBench;
    before(async () => void (bench = await startBench('master')));
    after(() => bench?.close());

    it("reports a worker that exits, by its pid and by the master's log", async () => {
      const fe = bench.setup.http[0]!;
      const was = await bench.before();
      process.kill(was.workers[0]!, 'SIGKILL');
      // The master logs the death and starts a replacement: wait (bounded) until the status shows it.
      for (let i = 0; i < 100 && (await bench.gateway().workers()).includes(was.workers[0]!); i++) await new Promise((r) => setTimeout(r, 50));
      const problems = await bench.after(was, fe, 'http');
      assert.ok(
        problems.some((p) => p.startsWith('the workers changed')),
        problems.join('\n'),
      );
      assert.ok(
        problems.some((p) => p.includes('worker died unexpectedly')),
        problems.join('\n'),
      );
    });
  });
});
