// gRPC through the gateway: a @grpc/grpc-js client and server, HTTP/2 on both sides of the
// gateway (a backend with `protocol: grpc`), unary and streaming calls, statuses carried in
// trailers, calls balanced one by one, and UNAVAILABLE when no server is up.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { deadPort, startGateway, tempDir, type TestGateway } from '../../helpers/gateway.ts';
import { testPki } from '../tls/pki.ts';

const proto = `
syntax = "proto3";
package tapgate.test;
message Note { string text = 1; int32 n = 2; }
service Echo {
  rpc Unary (Note) returns (Note);
  rpc Count (Note) returns (stream Note);
  rpc Chat (stream Note) returns (stream Note);
  rpc Sum (stream Note) returns (Note);
  rpc Missing (Note) returns (Note);
}`;

interface Note {
  text: string;
  n: number;
}
type EchoClient = grpc.Client & {
  Unary(n: Partial<Note>, cb: (err: grpc.ServiceError | null, r?: Note) => void): grpc.ClientUnaryCall;
  Unary(n: Partial<Note>, md: grpc.Metadata, opts: grpc.CallOptions, cb: (err: grpc.ServiceError | null, r?: Note) => void): grpc.ClientUnaryCall;
  Count(n: Partial<Note>): grpc.ClientReadableStream<Note>;
  Chat(): grpc.ClientDuplexStream<Partial<Note>, Note>;
  Sum(cb: (err: grpc.ServiceError | null, r?: Note) => void): grpc.ClientWritableStream<Partial<Note>>;
  Missing(n: Partial<Note>, cb: (err: grpc.ServiceError | null, r?: Note) => void): grpc.ClientUnaryCall;
};

const dir = tempDir();
writeFileSync(join(dir, 'echo.proto'), proto);
const definition = grpc.loadPackageDefinition(protoLoader.loadSync(join(dir, 'echo.proto'), { defaults: true })) as unknown as {
  tapgate: { test: { Echo: grpc.ServiceClientConstructor } };
};
const Echo = definition.tapgate.test.Echo;

/** A gRPC server on 127.0.0.1 (h2c, or TLS with `credentials`), naming itself in every answer. */
async function startEcho(name: string, credentials = grpc.ServerCredentials.createInsecure()): Promise<{ port: number; calls: number; close(): void }> {
  const server = new grpc.Server();
  const state = { port: 0, calls: 0, close: () => server.forceShutdown() };
  server.addService(Echo.service, {
    Unary: (call: grpc.ServerUnaryCall<Note, Note>, cb: grpc.sendUnaryData<Note>) => {
      state.calls++;
      const trailer = new grpc.Metadata();
      trailer.set('x-served-by', name);
      cb(null, { text: `${name}: ${call.request.text}`, n: call.request.n + 1 }, trailer);
    },
    Count: (call: grpc.ServerWritableStream<Note, Note>) => {
      state.calls++;
      for (let i = 1; i <= call.request.n; i++) call.write({ text: `${name} ${i}`, n: i });
      call.end();
    },
    Chat: (call: grpc.ServerDuplexStream<Note, Note>) => {
      state.calls++;
      call.on('data', (note: Note) => call.write({ text: `${name} heard ${note.text}`, n: note.n }));
      call.on('end', () => call.end());
    },
    Sum: (call: grpc.ServerReadableStream<Note, Note>, cb: grpc.sendUnaryData<Note>) => {
      state.calls++;
      let sum = 0;
      let count = 0;
      call.on('data', (note: Note) => {
        sum += note.n;
        count++;
      });
      call.on('end', () => cb(null, { text: `${name} summed ${count}`, n: sum }));
    },
    Missing: (_call: grpc.ServerUnaryCall<Note, Note>, cb: grpc.sendUnaryData<Note>) => {
      state.calls++;
      cb({ code: grpc.status.NOT_FOUND, details: 'no such note' });
    },
  });
  state.port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', credentials, (err, port) => (err ? reject(err) : resolve(port))));
  return state;
}

const unary = (client: EchoClient, note: Partial<Note>): Promise<{ note: Note; servedBy: string }> =>
  new Promise((resolve, reject) => {
    let servedBy = '';
    const call = client.Unary(note, new grpc.Metadata(), {}, (err, r) => (err ? reject(err) : setImmediate(() => resolve({ note: r!, servedBy }))));
    call.on('status', (s: grpc.StatusObject) => (servedBy = String(s.metadata.get('x-served-by')[0] ?? '')));
  });

describe('gRPC through the gateway', () => {
  let one: Awaited<ReturnType<typeof startEcho>>, two: Awaited<ReturnType<typeof startEcho>>;
  let gw: TestGateway;
  let client: EchoClient;

  before(async () => {
    [one, two] = await Promise.all([startEcho('one'), startEcho('two')]);
    const dead = await deadPort();
    gw = await startGateway({
      frontends: {
        grpc: { bind: '127.0.0.1:0', default_backend: 'echo', h2c: true },
        down: { bind: '127.0.0.1:0', default_backend: 'gone', h2c: true },
      },
      backends: {
        echo: {
          protocol: 'grpc',
          servers: [
            { name: 'one', address: `127.0.0.1:${one.port}` },
            { name: 'two', address: `127.0.0.1:${two.port}` },
          ],
        },
        gone: { protocol: 'grpc', retries: 0, servers: [{ name: 'dead', address: `127.0.0.1:${dead}` }] },
      },
    });
    client = new Echo(`127.0.0.1:${gw.port('grpc')}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
  });
  after(async () => {
    client.close();
    await gw.close();
    one.close();
    two.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('a unary call gets its answer and its trailing metadata', async () => {
    const { note, servedBy } = await unary(client, { text: 'hello', n: 41 });
    assert.equal(note.n, 42);
    assert.match(note.text, /^(one|two): hello$/);
    assert.equal(servedBy, note.text.split(':')[0]);
  });

  it('calls on one channel are balanced one by one, not per connection', async () => {
    const before = one.calls + two.calls;
    const [b1, b2] = [one.calls, two.calls];
    for (let i = 0; i < 10; i++) await unary(client, { text: `call ${i}`, n: i });
    assert.equal(one.calls + two.calls - before, 10);
    assert.equal(one.calls - b1, 5);
    assert.equal(two.calls - b2, 5);
  });

  it('a server-streaming call delivers every message, then the status', async () => {
    const call = client.Count({ n: 25 });
    const got: number[] = [];
    call.on('data', (note: Note) => got.push(note.n));
    const [status] = (await once(call, 'status')) as [grpc.StatusObject];
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(
      got,
      Array.from({ length: 25 }, (_, i) => i + 1),
    );
  });

  it('a bidirectional call streams both ways: each message is answered before the next is sent', async () => {
    const call = client.Chat();
    const heard: string[] = [];
    for (let i = 0; i < 5; i++) {
      call.write({ text: `m${i}`, n: i });
      const [note] = (await once(call, 'data')) as [Note];
      heard.push(note.text.replace(/^(one|two) /, ''));
    }
    call.end();
    const [status] = (await once(call, 'status')) as [grpc.StatusObject];
    assert.equal(status.code, grpc.status.OK);
    assert.deepEqual(heard, ['heard m0', 'heard m1', 'heard m2', 'heard m3', 'heard m4']);
  });

  it('a client-streaming call sends every message before the one answer', async () => {
    const answer = new Promise<Note>((resolve, reject) => {
      const call = client.Sum((err, r) => (err ? reject(err) : resolve(r!)));
      for (let i = 1; i <= 100; i++) call.write({ text: 'x'.repeat(1000), n: i });
      call.end();
    });
    const note = await answer;
    assert.equal(note.n, 5050);
    assert.match(note.text, /^(one|two) summed 100$/);
  });

  it("a server's error status and message reach the client as they were sent", async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => client.Missing({ text: 'x' }, (e) => resolve(e!)));
    assert.equal(err.code, grpc.status.NOT_FOUND);
    assert.equal(err.details, 'no such note');
  });

  it('a call to a backend whose only server is down fails with UNAVAILABLE (14), from the gateway', async () => {
    const down = new Echo(`127.0.0.1:${gw.port('down')}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    try {
      const err = await unary(down, { text: 'anyone?' }).then(
        () => assert.fail('expected an error'),
        (e: grpc.ServiceError) => e,
      );
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /Service Unavailable/);
    } finally {
      down.close();
    }
  });
});

describe('gRPC with a server down', () => {
  it('calls go to the server that is up: a refused connection is retried on another server', async () => {
    const up = await startEcho('up');
    const dead = await deadPort();
    const gw = await startGateway({
      frontends: { grpc: { bind: '127.0.0.1:0', default_backend: 'echo', h2c: true } },
      backends: {
        echo: {
          protocol: 'grpc',
          passive: false,
          servers: [
            { name: 'dead', address: `127.0.0.1:${dead}` },
            { name: 'up', address: `127.0.0.1:${up.port}` },
          ],
        },
      },
    });
    const client = new Echo(`127.0.0.1:${gw.port()}`, grpc.credentials.createInsecure()) as unknown as EchoClient;
    try {
      for (let i = 0; i < 6; i++) assert.equal((await unary(client, { text: `c${i}` })).note.text, `up: c${i}`);
      assert.equal(up.calls, 6);
    } finally {
      client.close();
      await gw.close();
      up.close();
    }
  });
});

describe('gRPC over TLS both ways', () => {
  it('a TLS client (ALPN h2) reaches a TLS gRPC server (ssl: true, ALPN h2)', async () => {
    const pki = testPki();
    const server = await startEcho(
      'secure',
      grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pki.origin.cert), private_key: Buffer.from(pki.origin.key) }], false),
    );
    const gw = await startGateway(
      {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'echo', tls: { certificates: [{ cert: 'ab.pem', key: 'ab.key' }] } } },
        backends: { echo: { protocol: 'grpc', servers: [{ name: 's', address: `127.0.0.1:${server.port}`, ssl: true, ca: 'ca.pem' }] } },
      },
      { 'ab.pem': pki.ab.cert, 'ab.key': pki.ab.key, 'ca.pem': pki.ca.cert },
    );
    const client = new Echo(`127.0.0.1:${gw.port()}`, grpc.credentials.createSsl(Buffer.from(pki.ca.cert)), {
      'grpc.ssl_target_name_override': 'a.test',
    }) as unknown as EchoClient;
    try {
      const { note } = await unary(client, { text: 'over tls', n: 1 });
      assert.equal(note.text, 'secure: over tls');
    } finally {
      client.close();
      await gw.close();
      server.close();
    }
  });
});
