import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { clearAuditLog } from '../../test/audit-support.ts';
import { startTestApp, type TestApp, uniqueSlug } from '../../test/harness.ts';
import { systemContext } from '../request-context.ts';

const FIXTURE = readFileSync(new URL('../../test/fixtures/plans.yaml', import.meta.url), 'utf8');
const REMOTE_DESKTOP_URL = new URL('../../../../examples/plans/remote-desktop.yaml', import.meta.url);

/** The 1-based line and column where `needle` (unique in `text`) starts, after `after` when given. */
function positionOf(text: string, needle: string, after = ''): { line: number; column: number } {
  const from = after ? text.indexOf(after) : 0;
  expect(from, `"${after}" in the source`).toBeGreaterThanOrEqual(0);
  const offset = text.indexOf(needle, from);
  expect(offset, `"${needle}" in the source`).toBeGreaterThanOrEqual(0);
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before.at(-1)?.length ?? 0) + 1 };
}

function replaceOnce(text: string, from: string, to: string): string {
  expect(text.split(from)).toHaveLength(2);
  return text.replace(from, to);
}

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

/** Every test starts with no plans, meters, tenants or audit events (nor what refers to them). */
beforeEach(async () => {
  await sql`truncate tenantry.jobs, tenantry.tenants, tenantry.plan_versions, tenantry.plans,
    tenantry.meters, tenantry.idempotency_keys cascade`.execute(t.db.database.db);
  // The cascade empties data_planes too (a customer's data plane refers to its tenant): put back
  // the control plane's own server, as migration 0030 made it, for the tenants created here.
  await sql`insert into tenantry.data_planes (id, name, kind) values ('dpl_default', 'default', 'vendor')`.execute(
    t.db.database.db,
  );
  await clearAuditLog(t.db.database.db);
});

function apply(source: string, extra: Record<string, unknown> = {}) {
  return t.request({ method: 'POST', url: '/v1/plans/apply', payload: { source, ...extra } });
}

async function counts() {
  const db = t.db.database.db;
  const count = async (table: 'plans' | 'plan_versions' | 'meters' | 'audit_events') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return {
    plans: await count('plans'),
    plan_versions: await count('plan_versions'),
    meters: await count('meters'),
    audit_events: await count('audit_events'),
  };
}

describe('POST /v1/plans/apply', () => {
  test('the first apply creates version 1 of every plan, its meters and one audit event per version and meter', async () => {
    const applied = await apply(FIXTURE, { filename: 'plans.yaml' });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.dry_run).toBe(false);
    const byKey = Object.fromEntries(applied.body.plans.map((p: any) => [p.key, p]));
    expect(Object.keys(byKey).sort()).toEqual(['pro', 'starter']);
    for (const key of ['pro', 'starter']) {
      expect(byKey[key]).toMatchObject({ change: 'created', version: 1, previous_version: null });
      expect(byKey[key].id).toMatch(/^pln_[0-9a-z]{26}$/);
    }
    expect(await counts()).toEqual({ plans: 2, plan_versions: 2, meters: 2, audit_events: 4 });

    const audit = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_type', '=', 'plan')
      .orderBy('target_id')
      .execute();
    const keyId = (await t.services.apiKeys.authenticate(t.token))?.id ?? '';
    for (const event of audit) {
      expect(event).toMatchObject({ action: 'plan.created', target_type: 'plan', actor_type: 'api_key' });
      expect(event.actor_id).toBe(keyId);
      expect(event.request_id).toMatch(/^req_/);
      expect(event.data).toMatchObject({ version: 1, filename: 'plans.yaml' });
    }
    expect(audit.map((e) => e.target_id).sort()).toEqual([byKey.pro.id, byKey.starter.id].sort());

    const meters = await t.db.database.db.selectFrom('meters').selectAll().orderBy('key').execute();
    expect(meters.map((m) => [m.key, m.aggregation])).toEqual([
      ['concurrent_sessions', 'time_weighted'],
      ['meetings', 'count'],
    ]);
    const meterAudit = await t.db.database.db
      .selectFrom('audit_events')
      .select(['action', 'target_id', 'data', 'after'])
      .where('target_type', '=', 'meter')
      .orderBy('target_id')
      .execute();
    expect(meterAudit.map((e) => [e.action, e.target_id])).toEqual([
      ['meter.created', 'concurrent_sessions'],
      ['meter.created', 'meetings'],
    ]);
    expect(meterAudit[1]).toMatchObject({
      data: { filename: 'plans.yaml' },
      after: { name: 'meetings', aggregation: 'count' },
    });
  });

  test('a meter whose name changes is recorded with what changed; one left as it is is not touched', async () => {
    await apply(FIXTURE);
    const renamed = replaceOnce(
      FIXTURE,
      'meetings:\n    aggregation: count',
      'meetings:\n    name: Meetings held\n    aggregation: count',
    );
    expect((await apply(renamed)).status).toBe(200);
    const meterActions = await t.db.database.db
      .selectFrom('audit_events')
      .select('action')
      .where('target_type', '=', 'meter')
      .execute();
    expect(meterActions.map((r) => r.action).sort()).toEqual([
      'meter.created',
      'meter.created',
      'meter.updated',
    ]);
    const row = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'meter.updated')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      target_id: 'meetings',
      before: { name: 'meetings' },
      after: { name: 'Meetings held' },
    });
  });

  test('applying the same file again changes nothing', async () => {
    const first = await apply(FIXTURE);
    expect(first.status).toBe(200);
    const before = await counts();
    const again = await apply(FIXTURE);
    expect(again.status, JSON.stringify(again.body)).toBe(200);
    for (const plan of again.body.plans) {
      expect(plan).toMatchObject({ change: 'unchanged', version: 1 });
    }
    expect(await counts()).toEqual(before);
  });

  test('changing one plan stores version 2 of that plan only', async () => {
    await apply(FIXTURE);
    const changed = replaceOnce(FIXTURE, 'unit_amount: "12.00"', 'unit_amount: "14.00"');
    const applied = await apply(changed);
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    const byKey = Object.fromEntries(applied.body.plans.map((p: any) => [p.key, p]));
    expect(byKey.pro).toMatchObject({ change: 'updated', version: 2, previous_version: 1 });
    expect(byKey.starter).toMatchObject({ change: 'unchanged', version: 1 });
    expect(await counts()).toEqual({ plans: 2, plan_versions: 3, meters: 2, audit_events: 5 });
    const event = await t.db.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'plan.version_created')
      .executeTakeFirstOrThrow();
    expect(event).toMatchObject({ target_id: byKey.pro.id, data: { key: 'pro', version: 2 } });

    const v1 = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/1' });
    const v2 = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/2' });
    expect(v1.body.definition.prices[0].unit_amount).toBe('12');
    expect(v2.body.definition.prices[0].unit_amount).toBe('14');
    expect(v1.body.checksum).not.toBe(v2.body.checksum);
  });

  test('dry_run reports what would change and stores nothing', async () => {
    const dry = await apply(FIXTURE, { dry_run: true });
    expect(dry.status, JSON.stringify(dry.body)).toBe(200);
    expect(dry.body.dry_run).toBe(true);
    expect(dry.body.plans.map((p: any) => [p.key, p.change, p.version]).sort()).toEqual([
      ['pro', 'created', 1],
      ['starter', 'created', 1],
    ]);
    expect(await counts()).toEqual({ plans: 0, plan_versions: 0, meters: 0, audit_events: 0 });

    await apply(FIXTURE);
    const before = await counts();
    const changed = replaceOnce(FIXTURE, 'trial_days: 14', 'trial_days: 30');
    const dryChange = await apply(changed, { dry_run: true });
    expect(dryChange.body.plans.find((p: any) => p.key === 'starter')).toMatchObject({
      change: 'updated',
      version: 2,
      previous_version: 1,
    });
    expect(await counts()).toEqual(before);
    const shown = await t.request({ method: 'GET', url: '/v1/plans/starter' });
    expect(shown.body.latest_version).toBe(1);
    expect(shown.body.definition.trial_days).toBe(14);
  });

  test('a YAML syntax error is reported with its line and column, and nothing is stored', async () => {
    const source = 'currency: usd\nplans:\n  pro: [sso\n    name: Pro\n';
    const applied = await apply(source);
    expect(applied.status).toBe(400);
    expect(applied.body.code).toBe('validation_failed');
    expect(applied.body.errors.length).toBeGreaterThan(0);
    for (const error of applied.body.errors) {
      expect(error.path).toBe('(file)');
      expect(error.message).toEqual(expect.any(String));
      expect(error.line).toBeGreaterThanOrEqual(3);
      expect(error.column).toBeGreaterThanOrEqual(1);
    }
    expect(await counts()).toEqual({ plans: 0, plan_versions: 0, meters: 0, audit_events: 0 });
  });

  test('a duplicated key is a syntax error at the line of the duplicate', async () => {
    const source = replaceOnce(
      FIXTURE,
      '  pro:\n    name: Pro\n',
      '  pro:\n    name: Pro\n    name: Pro 2\n',
    );
    const applied = await apply(source);
    expect(applied.status).toBe(400);
    expect(applied.body.errors).toEqual([
      expect.objectContaining({ path: '(file)', ...positionOf(source, 'name: Pro 2') }),
    ]);
  });

  test('every error of a file is reported with its path, line and column, and nothing is stored', async () => {
    await apply(FIXTURE);
    const before = await counts();
    let source = replaceOnce(FIXTURE, 'features: [sso]', 'features: [sso, telepathy]');
    source = replaceOnce(source, 'retention_days: 90', 'retention_days: "long"');
    source = replaceOnce(source, 'unit_amount: "5.00"', 'unit_amount: "5.001x"');
    source = replaceOnce(source, 'seats: { value: 10 }', 'seats: { value: -1 }');
    const applied = await apply(source, { filename: 'plans.yaml' });
    expect(applied.status, JSON.stringify(applied.body)).toBe(400);
    expect(applied.headers['content-type']).toBe('application/problem+json');
    expect(applied.body.code).toBe('validation_failed');
    expect(applied.body.detail).toContain('plans.yaml');
    const errors = applied.body.errors as any[];
    const expected = [
      { path: 'plans.starter.limits.seats.value', ...positionOf(source, '-1') },
      { path: 'plans.starter.prices.0.unit_amount', ...positionOf(source, '"5.001x"') },
      { path: 'plans.pro.features.1', ...positionOf(source, 'telepathy') },
      { path: 'plans.pro.config.retention_days', ...positionOf(source, '"long"') },
    ];
    expect(errors.map(({ path, line, column }) => ({ path, line, column }))).toEqual(expected);
    for (const error of errors) expect(error.message.length).toBeGreaterThan(5);
    expect(errors[2].message).toContain('telepathy');
    expect(await counts()).toEqual(before);
  });

  test("changing a meter's aggregation is refused at its line, and nothing is stored", async () => {
    await apply(FIXTURE);
    const before = await counts();
    const source = replaceOnce(
      replaceOnce(FIXTURE, 'aggregation: count', 'aggregation: sum'),
      'unit_amount: "12.00"',
      'unit_amount: "13.00"',
    );
    for (const dry_run of [true, false]) {
      const applied = await apply(source, { dry_run });
      expect(applied.status, JSON.stringify(applied.body)).toBe(400);
      expect(applied.body.code).toBe('validation_failed');
      expect(applied.body.errors).toEqual([
        expect.objectContaining({ path: 'meters.meetings.aggregation', ...positionOf(source, 'sum') }),
      ]);
      expect(applied.body.errors[0].message).toContain('count');
    }
    expect(await counts()).toEqual(before);
    const meter = await t.db.database.db
      .selectFrom('meters')
      .selectAll()
      .where('key', '=', 'meetings')
      .executeTakeFirstOrThrow();
    expect(meter.aggregation).toBe('count');
  });

  test('a meter category outside the closed list is refused at its line, and nothing is stored', async () => {
    const before = await counts();
    const source = replaceOnce(FIXTURE, 'aggregation: count', 'aggregation: count\n    category: meetings');
    const applied = await apply(source);
    expect(applied.status, JSON.stringify(applied.body)).toBe(400);
    expect(applied.body.errors).toEqual([
      expect.objectContaining({
        path: 'meters.meetings.category',
        ...positionOf(source, 'meetings', 'category:'),
      }),
    ]);
    expect(applied.body.errors[0].message).toContain('storage');
    expect(await counts()).toEqual(before);
  });

  test("changing a meter's unique_by is refused too", async () => {
    const source = `currency: usd
meters:
  users: { aggregation: unique_count, unique_by: subject }
plans:
  free:
    name: Free
    limits:
      users: { value: 5 }
`;
    expect((await apply(source)).status).toBe(200);
    const changed = replaceOnce(source, 'unique_by: subject', 'unique_by: properties.email');
    const applied = await apply(changed);
    expect(applied.status).toBe(400);
    expect(applied.body.errors).toEqual([
      expect.objectContaining({ path: 'meters.users.unique_by', ...positionOf(changed, 'properties.email') }),
    ]);
  });

  test('a version and its audit event are written in one transaction', async () => {
    // Make the audit insert fail: the plan and its version must be rolled back with it.
    const db = t.db.database.db;
    await sql`alter table tenantry.audit_events add constraint no_plan_events check (target_type <> 'plan')`.execute(
      db,
    );
    try {
      await expect(
        t.services.plans.apply(systemContext('test'), { source: FIXTURE, dryRun: false }),
      ).rejects.toThrow(/no_plan_events/);
      expect(await counts()).toEqual({ plans: 0, plan_versions: 0, meters: 0, audit_events: 0 });
    } finally {
      await sql`alter table tenantry.audit_events drop constraint no_plan_events`.execute(db);
    }
  });

  test('the bundled remote-desktop example applies and re-applies cleanly', async () => {
    const source = readFileSync(REMOTE_DESKTOP_URL, 'utf8');
    const applied = await apply(source, { filename: 'remote-desktop.yaml' });
    expect(applied.status, JSON.stringify(applied.body)).toBe(200);
    expect(applied.body.plans.map((p: any) => p.key).sort()).toEqual([
      'business',
      'enterprise',
      'free',
      'professional',
    ]);
    expect(applied.body.plans.every((p: any) => p.change === 'created' && p.version === 1)).toBe(true);
    expect(await counts()).toEqual({ plans: 4, plan_versions: 4, meters: 5, audit_events: 9 });

    const business = await t.request({ method: 'GET', url: '/v1/plans/business/versions/1' });
    expect(business.status).toBe(200);
    expect(business.body.definition).toMatchObject({
      key: 'business',
      currency: 'usd',
      requires_payment_method: true,
      features: { sso: true, advanced_analytics: true },
      config: { recording_retention_days: 90 },
    });
    const enterprise = await t.request({ method: 'GET', url: '/v1/plans/enterprise' });
    expect(enterprise.body.definition.interval).toBe('year');
    expect(enterprise.body.definition.limits.seats.value).toBeNull();

    const again = await apply(source);
    expect(again.body.plans.every((p: any) => p.change === 'unchanged')).toBe(true);
    expect((await counts()).plan_versions).toBe(4);
  });
});

describe('reading plans', () => {
  test('GET /v1/plans lists every plan with its latest version', async () => {
    await apply(FIXTURE);
    await apply(replaceOnce(FIXTURE, 'name: Pro', 'name: Pro Plus'));
    const listed = await t.request({ method: 'GET', url: '/v1/plans' });
    expect(listed.status).toBe(200);
    expect(listed.body.data.map((p: any) => [p.key, p.name, p.latest_version])).toEqual([
      ['pro', 'Pro Plus', 2],
      ['starter', 'Starter', 1],
    ]);
    for (const plan of listed.body.data) {
      expect(Object.keys(plan).sort()).toEqual(
        ['created_at', 'id', 'key', 'latest_version', 'name', 'updated_at'].sort(),
      );
    }
  });

  test('GET /v1/plans/{key} lists the versions with the number of tenants on each', async () => {
    await apply(FIXTURE);
    const tenant = async (plan_version?: number) => {
      const created = await t.request({
        method: 'POST',
        url: '/v1/tenants',
        payload: { slug: uniqueSlug(), name: 'Acme', plan: 'pro', ...(plan_version ? { plan_version } : {}) },
      });
      expect(created.status, JSON.stringify(created.body)).toBe(201);
      return created.body;
    };
    await tenant();
    const gone = await tenant();
    await apply(replaceOnce(FIXTURE, 'unit_amount: "12.00"', 'unit_amount: "14.00"'));
    await tenant();
    await tenant(1);
    await tenant(2);
    await t.services.jobs.runDue();
    const cancelled = await t.request({ method: 'POST', url: `/v1/tenants/${gone.id}/cancel`, payload: {} });
    expect(cancelled.status, JSON.stringify(cancelled.body)).toBe(200);
    const deleted = await t.request({ method: 'DELETE', url: `/v1/tenants/${gone.id}` });
    expect(deleted.status, JSON.stringify(deleted.body)).toBe(200);

    const shown = await t.request({ method: 'GET', url: '/v1/plans/pro' });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ key: 'pro', name: 'Pro', latest_version: 2 });
    expect(shown.body.definition.prices[0].unit_amount).toBe('14');
    expect(shown.body.versions.map((v: any) => [v.version, v.tenants])).toEqual([
      [1, 2],
      [2, 2],
    ]);
    for (const version of shown.body.versions) expect(version.checksum).toMatch(/^[0-9a-f]{64}$/);

    const byId = await t.request({ method: 'GET', url: `/v1/plans/${shown.body.id}` });
    expect(byId.body.key).toBe('pro');
  });

  test('GET /v1/plans/{key}/versions/{n} shows one stored version', async () => {
    await apply(FIXTURE);
    const shown = await t.request({ method: 'GET', url: '/v1/plans/starter/versions/1' });
    expect(shown.status).toBe(200);
    expect(shown.body).toMatchObject({ key: 'starter', version: 1 });
    expect(shown.body.plan_id).toMatch(/^pln_/);
    expect(shown.body.definition).toMatchObject({
      key: 'starter',
      trial_days: 14,
      limits: { meetings: { value: 100 }, seats: { value: 10 } },
      config: { retention_days: 7 },
    });
  });

  test('an unknown plan is 404 plan_not_found, an unknown version 404 plan_version_not_found', async () => {
    await apply(FIXTURE);
    for (const url of ['/v1/plans/nope', '/v1/plans/nope/versions/1']) {
      const missing = await t.request({ method: 'GET', url });
      expect(missing.status).toBe(404);
      expect(missing.headers['content-type']).toBe('application/problem+json');
      expect(missing.body.code).toBe('plan_not_found');
    }
    const version = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/7' });
    expect(version.status).toBe(404);
    expect(version.body.code).toBe('plan_version_not_found');
    const zero = await t.request({ method: 'GET', url: '/v1/plans/pro/versions/0' });
    expect(zero.status).toBe(400);
    expect(zero.body.errors[0].path).toBe('params.version');
  });
});
