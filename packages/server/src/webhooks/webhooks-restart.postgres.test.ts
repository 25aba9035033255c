// A PostgreSQL restart while webhooks are in flight loses none of them. The control plane runs on
// a PostgreSQL server of the test's own (the shared one cannot be stopped), the receiver holds
// the first requests unanswered, and the database stops while they are open: their outcomes can
// no longer be recorded. While it is down the API answers 503 `not_ready` and writes nothing, the
// process stays up, and once the database is back every webhook of every change committed
// before and after the restart is delivered and acknowledged, each under its own webhook-id.

import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { afterAll, expect, test } from 'vitest';
import { freePort, type ServeProcess, startServe, until } from '../../../../test/e2e/tenantry-process.ts';
import { type PrivatePostgres, startPrivatePostgres } from '../../test/private-postgres.ts';
import { startReceiver } from '../../test/webhook-receiver.ts';

const PLANS = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');
const BEFORE = 10;
const AFTER = 5;
const token = `tnt_op_${randomBytes(24).toString('base64url')}`;
let postgres: PrivatePostgres | undefined;
let server: ServeProcess | undefined;
let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;

afterAll(async () => {
  if (server?.child.exitCode === null) server.child.kill('SIGKILL');
  await receiver?.close();
  await postgres?.remove();
});

test('a PostgreSQL restart mid-delivery loses no webhook; the API answers 503 while the database is down', {
  timeout: 180_000,
}, async () => {
  postgres = await startPrivatePostgres();
  receiver = await startReceiver();
  const held: (() => void)[] = [];
  const acknowledged = new Map<string, string>();
  let holding = true;
  receiver.behaviours.set('/hook', (r, res) => {
    if (holding) held.push(() => res.destroy());
    else {
      acknowledged.set(String(r.headers['webhook-id']), String(r.verified?.type));
      res.writeHead(204).end();
    }
  });
  const port = await freePort();
  server = await startServe({
    DATABASE_URL: postgres.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'warn',
    TENANTRY_BOOTSTRAP_TOKEN: token,
    TENANTRY_MASTER_KEY: randomBytes(32).toString('base64'),
    TENANTRY_WEBHOOK_ALLOW_HOSTS: '127.0.0.1',
    // Longer than the restart takes: no held request times out (and is retried minutes later)
    // while the database is still up.
    TENANTRY_WEBHOOK_TIMEOUT_MS: '10000',
  });
  const url = `http://127.0.0.1:${port}`;
  const call = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(
      url + path,
      body === undefined
        ? { method, headers: { authorization: `Bearer ${token}` } }
        : {
            method,
            headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
            body: JSON.stringify(body),
          },
    );
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  };
  const createTenant = (slug: string) => call('POST', '/v1/tenants', { slug, name: 'Restart', plan: 'pro' });

  expect((await call('POST', '/v1/plans/apply', { source: PLANS })).status).toBe(200);
  const hook = await call('POST', '/v1/webhook-endpoints', {
    url: receiver.url('/hook'),
    event_types: ['tenant.created', 'subscription.created'],
  });
  expect(hook.status, JSON.stringify(hook.body)).toBe(201);
  receiver.secrets.add(hook.body.secret);
  for (let i = 0; i < BEFORE; i++) expect((await createTenant(`before-${i}`)).status).toBe(201);

  // Deliveries are in flight (held by the receiver): restart the database under them.
  await until('the control plane sends', async () => (receiver?.received.length ?? 0) > 0 || undefined);
  await postgres.stop();
  for (const release of held) release();
  holding = false;

  const refused = await createTenant('during-outage');
  expect(refused.status, JSON.stringify(refused.body)).toBe(503);
  expect(refused.body.code).toBe('not_ready');
  expect(refused.body.detail).toMatch(/database/);
  expect(refused.headers.get('retry-after')).toMatch(/^\d+$/);
  expect((await fetch(`${url}/readyz`)).status).toBe(503);

  await postgres.start();
  await until(
    'the control plane is ready again',
    async () => (await fetch(`${url}/readyz`)).status === 200 || undefined,
  );
  for (let i = 0; i < AFTER; i++) expect((await createTenant(`after-${i}`)).status).toBe(201);

  const expected = 2 * (BEFORE + AFTER);
  await until('every webhook is acknowledged', async () => acknowledged.size >= expected || undefined, {
    timeoutMs: 120_000,
  });
  expect(server.child.exitCode).toBeNull();
  expect(acknowledged.size).toBe(expected);
  const types = [...acknowledged.values()];
  expect(types.filter((t) => t === 'tenant.created')).toHaveLength(BEFORE + AFTER);
  expect(types.filter((t) => t === 'subscription.created')).toHaveLength(BEFORE + AFTER);
  expect(receiver.received.every((r) => r.verified !== null)).toBe(true);
  // The refused request wrote nothing: no tenant, so no webhook for it either.
  const tenants = await call('GET', '/v1/tenants?limit=100');
  const slugs = (tenants.body.data as { slug: string }[]).map((t) => t.slug);
  expect(slugs).toHaveLength(BEFORE + AFTER);
  expect(slugs).not.toContain('during-outage');
  // The delivery log agrees: every delivery succeeded, none is left pending.
  const log = await until('the delivery log records every success', async () => {
    const page = await call('GET', `/v1/webhook-endpoints/${hook.body.id}/deliveries?limit=100`);
    const states = (page.body.data as { state: string }[]).map((d) => d.state);
    return states.length === expected && states.every((s) => s === 'succeeded') ? states : undefined;
  });
  expect(log).toHaveLength(expected);
});
