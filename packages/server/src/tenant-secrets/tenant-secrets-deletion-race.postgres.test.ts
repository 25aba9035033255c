// A secret written while its tenant is being deleted must not outlive the deletion: no secret and
// no data key may be left for a deleted tenant, whichever commits first. Shown on PostgreSQL, where
// two transactions run at once (PGlite runs one at a time).
import { setTimeout as sleep } from 'node:timers/promises';
import { sql } from 'kysely';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { act, applyPlans, provisionedTenant, query } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { transitionTenant } from '../tenants/index.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(() => t.close());

/** Waits until some session of the test database waits on a lock: the write has met the deletion's. */
async function untilBlocked(): Promise<void> {
  for (;;) {
    const { rows } = await sql<{ n: number }>`
      select count(*)::int as n from pg_stat_activity
      where datname = current_database() and wait_event_type = 'Lock'`.execute(t.services.database.db);
    if ((rows[0]?.n ?? 0) > 0) return;
    await sleep(10);
  }
}

test('a write during the deletion waits for it, then is refused, and leaves no secret or data key', async () => {
  const tenant = await provisionedTenant(t);
  const first = await t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
    payload: { value: 'sk-before' },
  });
  expect(first.status).toBe(201);
  expect((await act(t, tenant.id, 'cancel')).status).toBe(200);

  let release = (): void => {};
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  let moved = (): void => {};
  const deleting = new Promise<void>((resolve) => {
    moved = resolve;
  });
  // The deletion, held open after it moved the tenant (and shredded its key), before it commits.
  const deletion = t.services.database.db.transaction().execute(async (tx) => {
    const record = await tx
      .selectFrom('tenants')
      .select(['id', 'state', 'state_reason'])
      .where('id', '=', tenant.id)
      .forUpdate()
      .executeTakeFirstOrThrow();
    const done = await transitionTenant(tx, systemContext('test'), record, {
      to: 'deleted',
      reason: null,
      now: t.clock.now(),
    });
    expect(done.ok).toBe(true);
    moved();
    await held;
  });
  await deleting;
  const write = t.request({
    method: 'PUT',
    url: `/v1/tenants/${tenant.id}/secrets/openai.api_key`,
    payload: { value: 'sk-during' },
  });
  await untilBlocked();
  release();
  await deletion;
  const refused = await write;
  expect([refused.status, refused.body.code]).toEqual([409, 'tenant_deleted']);
  expect(await query(t, `select * from tenantry.tenant_secrets where tenant_id = '${tenant.id}'`)).toEqual(
    [],
  );
  expect(await query(t, `select * from tenantry.tenant_data_keys where tenant_id = '${tenant.id}'`)).toEqual(
    [],
  );
});
