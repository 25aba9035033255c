import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { expect } from 'vitest';
import { type TestApp, uniqueSlug } from './harness.ts';

export const DAY_MS = 86_400_000;

/** The text of a plan file under `test/fixtures`. */
export function fixture(name: string): string {
  return readFileSync(new URL(`./fixtures/${name}`, import.meta.url), 'utf8');
}

/** Applies `fixtures/plans.yaml` (or another source) and fails the test if it is refused. */
export async function applyPlans(t: TestApp, source = fixture('plans.yaml')): Promise<any> {
  const applied = await t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source } });
  expect(applied.status, JSON.stringify(applied.body)).toBe(200);
  return applied.body;
}

/** Creates a tenant through the API (201 expected); `payload` replaces the defaults. */
export async function createTenant(t: TestApp, payload: Record<string, unknown> = {}): Promise<any> {
  const created = await t.request({
    method: 'POST',
    url: '/v1/tenants',
    payload: { slug: uniqueSlug(), name: 'Acme', plan: 'pro', ...payload },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  return created.body;
}

/** Creates a tenant and runs the provisioning job; returns the tenant as it is afterwards. */
export async function provisionedTenant(t: TestApp, payload: Record<string, unknown> = {}): Promise<any> {
  const created = await createTenant(t, payload);
  await t.services.jobs.runDue();
  return getTenant(t, created.id);
}

export async function getTenant(t: TestApp, id: string): Promise<any> {
  const shown = await t.request({ method: 'GET', url: `/v1/tenants/${id}` });
  expect(shown.status, JSON.stringify(shown.body)).toBe(200);
  return shown.body;
}

/** Sends a lifecycle action (`suspend`, `resume`, …) and returns the response. */
export function act(
  t: TestApp,
  id: string,
  action: string,
  payload?: unknown,
  headers?: Record<string, string>,
) {
  return t.request({
    method: 'POST',
    url: `/v1/tenants/${id}/${action}`,
    ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    ...(headers ? { headers } : {}),
  });
}

/** Every audit row, oldest first. */
export function auditRows(t: TestApp, tenantId?: string) {
  let query = t.services.database.db
    .selectFrom('audit_events')
    .selectAll()
    .orderBy('occurred_at')
    .orderBy('id');
  if (tenantId !== undefined) query = query.where('tenant_id', '=', tenantId);
  return query.execute();
}

export async function auditCount(t: TestApp): Promise<number> {
  const row = await t.services.database.db
    .selectFrom('audit_events')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function tenantCount(t: TestApp): Promise<number> {
  const row = await t.services.database.db
    .selectFrom('tenants')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/** The stored tenant row. */
export function tenantRow(t: TestApp, id: string) {
  return t.services.database.db
    .selectFrom('tenants')
    .selectAll()
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
}

/** The id of the operator key `t.token` stands for. */
export async function operatorKeyId(t: TestApp): Promise<string> {
  const keys = await t.request({ method: 'GET', url: '/v1/api-keys' });
  expect(keys.status).toBe(200);
  expect(keys.body.data).toHaveLength(1);
  return keys.body.data[0].id;
}

/** Runs a raw query on the control-plane database. */
export async function query<R = Record<string, unknown>>(t: TestApp, text: string): Promise<R[]> {
  const result = await sql.raw<R>(text).execute(t.services.database.db);
  return [...result.rows];
}

/** Snapshot of what a refused request must leave alone: every tenant row and the audit log size. */
export async function stateOf(t: TestApp): Promise<{ tenants: unknown[]; audit: number; jobs: number }> {
  const tenants = await t.services.database.db.selectFrom('tenants').selectAll().orderBy('id').execute();
  const jobs = await t.services.database.db
    .selectFrom('jobs')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { tenants, audit: await auditCount(t), jobs: Number(jobs.n) };
}

/** Runs the due jobs, then moves the clock past each backoff and runs them again, `rounds` times. */
export async function runWithRetries(t: TestApp, rounds: number): Promise<void> {
  await t.services.jobs.runDue();
  for (let i = 0; i < rounds; i++) {
    t.clock.advance(3_600_000 + 1_000);
    await t.services.jobs.runDue();
  }
}

/**
 * Makes the schema a `schema` tenant needs before its provisioning job runs, owned by a role that
 * is not the tenant's (the predefined `pg_database_owner`, so no role is left in the cluster).
 */
export async function blockSchema(t: TestApp, tenantId: string): Promise<void> {
  await query(t, `create schema "${tenantId}" authorization pg_database_owner`);
}

/** A `schema` tenant whose provisioning failed on every attempt: a schema of its name was in the way. */
export async function failedTenant(t: TestApp, payload: Record<string, unknown> = {}): Promise<any> {
  const created = await createTenant(t, { placement: 'schema', ...payload });
  await blockSchema(t, created.id);
  await runWithRetries(t, 2);
  const failed = await getTenant(t, created.id);
  expect(failed.state, JSON.stringify(failed)).toBe('provisioning_failed');
  return failed;
}
