// The jwt plugin puts the subject of an accepted token in the request's access-log line.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { createTestGateway, type TestGateway } from 'tapgate/sdk/testing';

const secret = 'a-secret-of-thirty-two-bytes-at-least';

async function lines(t: TestGateway, n: number): Promise<Record<string, unknown>[]> {
  for (let i = 0; i < 200 && t.logs.length < n; i++) await sleep(5);
  assert.equal(t.logs.length, n, JSON.stringify(t.logs));
  return t.logs;
}

describe('jwt in the access log', () => {
  it("logs an accepted token's subject as jwt_sub, and none for a refused one", async () => {
    const t = await createTestGateway({
      config: {
        frontends: { web: { bind: '127.0.0.1:0', default_backend: 'app', plugins: [{ use: 'jwt', options: { secret } }] } },
        backends: { app: { servers: [{ name: 's1', address: 'origin:app' }] } },
      },
      origins: { app: 'echo' },
    });
    try {
      const token = await new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime('10m').sign(new TextEncoder().encode(secret));
      assert.equal((await t.request({ path: '/', headers: { authorization: `Bearer ${token}` } })).status, 200);
      assert.equal((await t.request({ path: '/', headers: { authorization: 'Bearer not.a.token' } })).status, 401);
      const [accepted, refused] = await lines(t, 2);
      assert.equal(accepted!.jwt_sub, 'alice');
      assert.equal('jwt_sub' in refused!, false);
    } finally {
      await t.close();
    }
  });
});
