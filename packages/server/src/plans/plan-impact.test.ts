import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { clearAuditLog } from '../../test/audit-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, fixture, provisionedTenant } from '../../test/tenant-support.ts';

// The impact section of a dry-run apply: who, on a plan's new version, would pass a limit or pay more.

const FIXTURE = fixture('plans.yaml');

function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from)).toHaveLength(2);
  return text.replace(from, to);
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

beforeEach(async () => {
  await sql`truncate tenantry.jobs, tenantry.tenants, tenantry.plan_versions, tenantry.plans,
    tenantry.meters, tenantry.idempotency_keys cascade`.execute(t.db.database.db);
  await sql`insert into tenantry.data_planes (id, name, kind) values ('dpl_default', 'default', 'vendor')`.execute(
    t.db.database.db,
  );
  await clearAuditLog(t.db.database.db);
  await applyPlans(t, FIXTURE);
});

async function dryRun(source: string): Promise<any> {
  const response = await t.request({
    method: 'POST',
    url: '/v1/plans/apply',
    payload: { source, dry_run: true },
  });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  return response.body;
}

async function spend(tenant: string, meetings: number): Promise<void> {
  const time = t.clock.now().toISOString();
  const batch = Array.from({ length: meetings }, (_, i) => ({
    id: `${tenant}-${i}`,
    tenant,
    meter: 'meetings',
    time,
  }));
  const response = await t.request({ method: 'POST', url: '/v1/events', payload: batch });
  expect(response.status, JSON.stringify(response.body)).toBe(200);
  expect(response.body).toMatchObject({ accepted: meetings, rejected: [] });
}

/** What a dry run must leave as it was: every row it could write. */
async function written() {
  const db = t.db.database.db;
  const count = async (table: 'plans' | 'plan_versions' | 'meters' | 'audit_events' | 'domain_events') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  const tenants = await db
    .selectFrom('tenants')
    .select(['id', 'plan_version', 'seats'])
    .orderBy('id')
    .execute();
  return {
    plans: await count('plans'),
    plan_versions: await count('plan_versions'),
    meters: await count('meters'),
    audit_events: await count('audit_events'),
    domain_events: await count('domain_events'),
    tenants,
  };
}

describe('POST /v1/plans/apply with dry_run: the impact on tenants', () => {
  test('a tenant whose usage passes a lowered limit is listed with its usage and both limits; one under it is not', async () => {
    const busy = await provisionedTenant(t, { plan: 'starter', seats: 3 });
    const quiet = await provisionedTenant(t, { plan: 'starter', seats: 3 });
    const busiest = await provisionedTenant(t, { plan: 'starter', seats: 3 });
    await provisionedTenant(t, { plan: 'pro' });
    await spend(busy.id, 30);
    await spend(quiet.id, 5);
    await spend(busiest.id, 50);
    const before = await written();

    const dry = await dryRun(replaceOnce(FIXTURE, 'meetings: { value: 100 }', 'meetings: { value: 20 }'));
    expect(dry.impact.adoption).toBe('grandfathered');
    // The definition it would store, to compare with the stored one.
    expect(dry.plans.find((p: any) => p.key === 'starter').definition.limits.meetings.value).toBe(20);
    expect(dry.plans.find((p: any) => p.key === 'pro')).not.toHaveProperty('definition');
    // Only the updated plan is assessed; pro did not change.
    expect(dry.impact.plans).toHaveLength(1);
    const starter = dry.impact.plans[0];
    expect(starter).toMatchObject({ key: 'starter', version: 2, tenants: 3, examined: 3 });
    // The furthest over first.
    expect(starter.over_limit).toEqual({
      count: 2,
      tenants: [
        {
          id: busiest.id,
          slug: busiest.slug,
          name: busiest.name,
          version: 1,
          limits: [{ key: 'meetings', used: 50, current: 100, new: 20 }],
        },
        {
          id: busy.id,
          slug: busy.slug,
          name: busy.name,
          version: 1,
          limits: [{ key: 'meetings', used: 30, current: 100, new: 20 }],
        },
      ],
    });
    expect(starter.pays_more).toEqual({ count: 0, tenants: [] });
    // Nothing written: no version, no audit, no event, no tenant moved.
    expect(await written()).toEqual(before);
  });

  test('a tenant paying more at its seats is listed with both charges; a lowered seat limit lists a tenant above it', async () => {
    const small = await provisionedTenant(t, { plan: 'starter', seats: 2 });
    const large = await provisionedTenant(t, { plan: 'starter', seats: 8 });
    const before = await written();

    const source = replaceOnce(
      replaceOnce(FIXTURE, 'seats: { value: 10 }', 'seats: { value: 5 }'),
      'unit_amount: "5.00"',
      'unit_amount: "7.50"',
    );
    const dry = await dryRun(source);
    const starter = dry.impact.plans.find((p: any) => p.key === 'starter');
    expect(starter.pays_more.count).toBe(2);
    // The largest rise first.
    expect(
      starter.pays_more.tenants.map((x: any) => [x.slug, x.seats, x.currency, x.current, x.new]),
    ).toEqual([
      [large.slug, 8, 'usd', '40', '60'],
      [small.slug, 2, 'usd', '10', '15'],
    ]);
    expect(starter.over_limit).toEqual({
      count: 1,
      tenants: [
        {
          id: large.id,
          slug: large.slug,
          name: large.name,
          version: 1,
          limits: [{ key: 'seats', used: 8, current: 10, new: 5 }],
        },
      ],
    });
    expect(await written()).toEqual(before);
  });

  test('a cheaper price lists nobody as paying more, and the real apply answers without an impact', async () => {
    await provisionedTenant(t, { plan: 'starter', seats: 4 });
    const source = replaceOnce(FIXTURE, 'unit_amount: "5.00"', 'unit_amount: "4.00"');
    const dry = await dryRun(source);
    expect(dry.impact.plans[0]).toMatchObject({ key: 'starter', pays_more: { count: 0, tenants: [] } });

    const applied = await applyPlans(t, source);
    expect(applied.impact).toBeUndefined();
    // Grandfathered: the tenant stays on version 1 after the apply.
    const tenants = await t.db.database.db.selectFrom('tenants').select('plan_version').execute();
    expect(tenants.map((row) => row.plan_version)).toEqual([1]);
  });

  test('the impact names tenants and their usage: a key that may only read plans, or none, is refused the dry run', async () => {
    await provisionedTenant(t, { plan: 'starter', seats: 8 });
    const source = replaceOnce(FIXTURE, 'seats: { value: 10 }', 'seats: { value: 5 }');
    const key = await t.request({
      method: 'POST',
      url: '/v1/api-keys',
      payload: { name: 'reader', scopes: ['plans:read'] },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    const asReader = await t.request({
      method: 'POST',
      url: '/v1/plans/apply',
      payload: { source, dry_run: true },
      headers: { authorization: `Bearer ${key.body.secret}` },
    });
    expect(asReader.status).toBe(403);
    expect(JSON.stringify(asReader.body)).not.toContain('starter');
    const anonymous = await t.request({
      method: 'POST',
      url: '/v1/plans/apply',
      payload: { source, dry_run: true },
      headers: { authorization: '' },
    });
    expect(anonymous.status).toBe(401);
  });
});
