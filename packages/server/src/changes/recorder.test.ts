import type { KyselyPlugin } from 'kysely';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, operatorKeyId, provisionedTenant } from '../../test/tenant-support.ts';
import { until } from '../../test/until.ts';
import { systemContext } from '../request-context.ts';
import { announceUsage, type Change, followTenantChanges, recordChange, recordChanges } from './index.ts';

let t: TestApp;
/** Every tenant id announced on the channel since the test app started, in order. */
const heard: string[] = [];
let unfollow: () => Promise<void>;

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
  unfollow = await followTenantChanges(t.services.database, (id) => heard.push(id));
});

afterAll(async () => {
  await unfollow();
  await t.close();
});

const TEST = systemContext('recorder-test');

async function counts() {
  const db = t.services.database.db;
  const n = async (table: 'audit_events' | 'domain_events') =>
    Number(
      (
        await db
          .selectFrom(table)
          .select((eb) => eb.fn.countAll<number>().as('n'))
          .executeTakeFirstOrThrow()
      ).n,
    );
  return { audit: await n('audit_events'), events: await n('domain_events') };
}

/** Waits until `tenantId` has been announced after the `since`-th announcement heard. */
function announced(tenantId: string, since = 0): Promise<true> {
  return until(
    `${tenantId} is announced`,
    async () => (heard.slice(since).includes(tenantId) ? true : undefined),
    { intervalMs: 10 },
  );
}

/** A provisioned tenant whose provisioning has been heard of, and where the announcements stand. */
async function quietTenant(): Promise<{ id: string; mark: number }> {
  const tenant = await provisionedTenant(t, { plan: 'pro' });
  await announced(tenant.id);
  return { id: tenant.id, mark: heard.length };
}

describe("an operator's suspend", () => {
  it('writes the audit entry, the tenant.suspended event and the announcement, in one transaction', async () => {
    const tenant = await quietTenant();
    const response = await t.request({
      method: 'POST',
      url: `/v1/tenants/${tenant.id}/suspend`,
      payload: { reason: 'abuse report' },
      headers: { 'x-request-id': 'suspend-1' },
    });
    expect(response.status, JSON.stringify(response.body)).toBe(200);

    const db = t.services.database.db;
    const audit = await db
      .selectFrom('audit_events')
      .select(['actor_type', 'actor_id', 'tenant_id', 'action', 'target_type', 'target_id', 'data'])
      .select(['before', 'after', 'source_ip'])
      .select(sql<string>`xmin::text`.as('tx'))
      .where('request_id', '=', 'suspend-1')
      .execute();
    expect(audit.map(({ tx: _tx, ...row }) => row)).toEqual([
      {
        actor_type: 'api_key',
        actor_id: await operatorKeyId(t),
        tenant_id: tenant.id,
        action: 'tenant.suspended',
        target_type: 'tenant',
        target_id: tenant.id,
        data: { from: 'active', to: 'suspended', reason: 'abuse report' },
        before: { state: 'active', state_reason: null },
        after: { state: 'suspended', state_reason: 'abuse report' },
        source_ip: '127.0.0.1',
      },
    ]);

    const events = await db
      .selectFrom('domain_events')
      .select(['type', 'version', 'tenant_id', 'data', 'published_at'])
      .select(sql<string>`xmin::text`.as('tx'))
      .where('request_id', '=', 'suspend-1')
      .execute();
    expect(events).toEqual([
      {
        type: 'tenant.suspended',
        version: 1,
        tenant_id: tenant.id,
        data: { from: 'active', to: 'suspended', reason: 'abuse report' },
        published_at: null,
        tx: audit[0]?.tx,
      },
    ]);
    await announced(tenant.id, tenant.mark);
  });
});

describe('recordChanges', () => {
  it('writes nothing, and announces nothing, when the transaction rolls back', async () => {
    const rolledBack = await quietTenant();
    const committed = await quietTenant();
    const before = await counts();
    const failing = t.services.database.db.transaction().execute(async (tx) => {
      await recordChange(tx, TEST, {
        action: 'tenant.updated',
        tenantId: rolledBack.id,
        target: { type: 'tenant', id: rolledBack.id },
        data: { fields: ['name'] },
        occurredAt: t.clock.now(),
      });
      throw new Error('the change fails after it was recorded');
    });
    await expect(failing).rejects.toThrow('the change fails after it was recorded');
    expect(await counts()).toEqual(before);
    // Announcements arrive in commit order: once a later one is heard, the rolled-back one never comes.
    await t.services.database.db.transaction().execute((tx) =>
      recordChange(tx, TEST, {
        action: 'tenant.updated',
        tenantId: committed.id,
        target: { type: 'tenant', id: committed.id },
        data: { fields: ['name'] },
        occurredAt: t.clock.now(),
      }),
    );
    await announced(committed.id, committed.mark);
    expect(heard.slice(committed.mark)).not.toContain(rolledBack.id);
    expect(await counts()).toEqual({ audit: before.audit + 1, events: before.events + 1 });
  });

  it('keeps only the changed fields in before and after, and no secret anywhere', async () => {
    await t.services.database.db.transaction().execute((tx) =>
      recordChange(tx, TEST, {
        action: 'api_key.rolled',
        tenantId: null,
        target: { type: 'api_key', id: 'key_redaction' },
        before: { name: 'ci', secret_hash: 'old-hash', expires_at: null },
        after: { name: 'ci', secret_hash: 'new-hash', expires_at: '2027-01-01T00:00:00.000Z' },
        data: { name: 'ci', rolled_to: 'key_next', expires_at: '2027-01-01T00:00:00.000Z' },
        occurredAt: t.clock.now(),
      }),
    );
    const row = await t.services.database.db
      .selectFrom('audit_events')
      .selectAll()
      .where('target_id', '=', 'key_redaction')
      .executeTakeFirstOrThrow();
    expect(row).toMatchObject({
      before: { expires_at: null },
      after: { expires_at: '2027-01-01T00:00:00.000Z' },
    });
    expect(JSON.stringify(row)).not.toMatch(/secret_hash|old-hash|new-hash/);
  });

  it('refuses a change its action does not allow, and writes nothing of the batch', async () => {
    const before = await counts();
    const attempt = (changes: readonly Change[]) =>
      t.services.database.db.transaction().execute((tx) => recordChanges(tx, TEST, changes));
    const plan: Change = {
      action: 'plan.created',
      tenantId: null,
      target: { type: 'plan', id: 'pln_ok' },
      occurredAt: t.clock.now(),
    };
    const bad = [
      { ...plan, action: 'plan.vanished' },
      { ...plan, target: { type: 'tenant', id: 'ten_x' } },
      { ...plan, event: { type: 'tenant.created', data: {} } },
      {
        action: 'tenant.cancelled',
        tenantId: 'ten_x',
        target: { type: 'tenant', id: 'ten_x' },
        event: { type: 'tenant.deleted', data: { from: 'active', to: 'cancelled' } },
        occurredAt: t.clock.now(),
      },
      {
        action: 'tenant.cancelled',
        tenantId: 'ten_x',
        target: { type: 'tenant', id: 'ten_x' },
        data: { from: 'active', to: 'cancelled' },
        also: [{ type: 'trial.ended', data: { from: 'active', to: 'cancelled' } }],
        occurredAt: t.clock.now(),
      },
    ] as unknown as Change[];
    for (const change of bad) {
      await expect(attempt([plan, change]), JSON.stringify(change)).rejects.toThrow(
        /not an audit action|targets a plan|does not raise|may not also raise/,
      );
    }
    expect(await counts()).toEqual(before);
  });

  it('records a batch of thousands in three statements: the heads of the audit chains, their entries, then the events and announcements', async () => {
    let statements = 0;
    const counting: KyselyPlugin = {
      transformQuery: (args) => {
        statements += 1;
        return args.node;
      },
      transformResult: async (args) => args.result,
    };
    const tenants = [await quietTenant(), await quietTenant()];
    const mark = heard.length;
    const changes = Array.from(
      { length: 2_000 },
      (_, i): Change => ({
        action: 'tenant.updated',
        tenantId: tenants[i % 2]?.id ?? null,
        target: { type: 'tenant', id: tenants[i % 2]?.id ?? '' },
        data: { fields: ['metadata'] },
        occurredAt: t.clock.now(),
      }),
    );
    const before = await counts();
    await t.services.database.db
      .withPlugin(counting)
      .transaction()
      .execute((tx) => recordChanges(tx, TEST, changes));
    expect(statements).toBe(3);
    expect(await counts()).toEqual({ audit: before.audit + 2_000, events: before.events + 2_000 });
    for (const tenant of tenants) await announced(tenant.id, mark);
  });

  it('announces usage without an audit entry or an event', async () => {
    const tenant = await quietTenant();
    const before = await counts();
    await t.services.database.db.transaction().execute((tx) => announceUsage(tx, [tenant.id, tenant.id]));
    await announced(tenant.id, tenant.mark);
    expect(await counts()).toEqual(before);
  });
});
