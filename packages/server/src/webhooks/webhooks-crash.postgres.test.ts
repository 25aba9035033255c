// Events committed by a control plane that is SIGKILLed before their webhooks are acknowledged
// are delivered by another process on the same database: nothing is lost, and each webhook is
// acknowledged exactly once. The receiver holds every request of the first process unanswered,
// so the kill lands after the commit and before any delivery completes; the second process
// sends them again once their lease (timeout + 5 s) runs out. Delivery is at least once: the
// receiver saw the first process's attempts too, with the same webhook-id it dedupes on.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { freePort, type ServeProcess, startServe, until } from '../../../../test/e2e/tenantry-process.ts';
import { createTestDatabase, type TestDatabase } from '../../test/harness.ts';
import { startReceiver } from '../../test/webhook-receiver.ts';

const PLANS = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');
const TENANTS = 20;
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;
const servers: ServeProcess[] = [];
let database: TestDatabase | undefined;
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

afterAll(async () => {
  for (const server of servers) if (server.child.exitCode === null) server.child.kill('SIGKILL');
  await receiver?.close();
  await database?.drop();
});

async function serve(env: Record<string, string>) {
  const port = await freePort();
  const server = await startServe({ ...env, PORT: String(port), HOST: '127.0.0.1', LOG_LEVEL: 'warn' });
  servers.push(server);
  return { server, url: `http://127.0.0.1:${port}` };
}

async function call(url: string, path: string, body: unknown) {
  const response = await fetch(url + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any };
}

test('webhooks of changes committed before a SIGKILL are delivered by the next process, each acknowledged once', {
  timeout: 120_000,
}, async () => {
  database = await createTestDatabase();
  receiver = await startReceiver();
  const held: (() => void)[] = [];
  const acknowledged: string[] = [];
  const acknowledgedTypes: string[] = [];
  let holding = true;
  receiver.behaviours.set('/hook', (r, res) => {
    if (holding) held.push(() => res.destroy());
    else {
      acknowledged.push(String(r.headers['webhook-id']));
      acknowledgedTypes.push(String(r.verified?.type));
      res.writeHead(204).end();
    }
  });
  const env = {
    DATABASE_URL: (database.target as { url: string }).url,
    TENANTRY_BOOTSTRAP_TOKEN: token,
    TENANTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    TENANTRY_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    TENANTRY_WEBHOOK_TIMEOUT_MS: '2000',
  };
  const first = await serve(env);
  expect((await call(first.url, '/v1/plans/apply', { source: PLANS })).status).toBe(200);
  const hook = await call(first.url, '/v1/webhook-endpoints', {
    url: receiver.url('/hook'),
    event_types: ['tenant.created', 'subscription.created'],
  });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  receiver.secrets.add(hook.body.secret);
  for (let i = 0; i < TENANTS; i++)
    expect(
      (await call(first.url, '/v1/tenants', { slug: `crash-${i}`, name: 'Crash', plan: 'pro' })).status,
    ).toBe(201);
  // The first process has started sending (the receiver holds its requests): kill it there.
  await until('the first process sends', async () =>
    (receiver?.received.length ?? 0) > 0 ? true : undefined,
  );
  first.server.child.kill('SIGKILL');
  await new Promise((resolve) => first.server.child.once('exit', resolve));
  const seenBeforeKill = receiver.received.length;
  for (const release of held) release();
  holding = false;

  await serve(env);
  const expected = 2 * TENANTS;
  await until(
    'every webhook is acknowledged',
    async () => (acknowledged.length >= expected ? true : undefined),
    {
      timeoutMs: 60_000,
    },
  );
  expect(new Set(acknowledged).size).toBe(expected);
  expect(acknowledged).toHaveLength(expected);
  expect(receiver.received.every((r) => r.verified !== null)).toBe(true);
  expect(acknowledgedTypes.filter((t) => t === 'tenant.created')).toHaveLength(TENANTS);
  expect(acknowledgedTypes.filter((t) => t === 'subscription.created')).toHaveLength(TENANTS);
  // At least once: the killed process's unanswered attempts were sent again, under the same ids.
  expect(seenBeforeKill).toBeGreaterThan(0);
});
