import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { applyPlans, createTenant } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';

/*
 * The control plane's side of hybrid datasets, attacked: a push whose hash does not match, a
 * sequence resent with other content, a revoked agent's push, and a stored ciphertext copied onto
 * another tenant's row. Switch reports are audited on change only.
 */

let t: TestApp;
const ctx = systemContext('test');

beforeAll(async () => {
  t = await startTestApp();
  await applyPlans(t);
});
afterAll(async () => {
  await t?.close();
});

/** A tenant with an enrolled agent: its ids. */
async function enrolledAgent(): Promise<{ tenantId: string; agentId: string }> {
  const tenantId = (await createTenant(t)).id as string;
  const enrolment = await t.services.agents.createEnrolment(ctx, tenantId);
  if (!enrolment.ok) throw new Error(enrolment.error.detail);
  const hello = await t.services.agents.authenticate(
    {
      type: 'hello',
      protocol: 1,
      auth: { kind: 'enrolment', token: enrolment.value.token },
      agent_version: 'test',
      job_types: [],
    },
    null,
  );
  if (!hello.ok) throw new Error(hello.error.message);
  return { tenantId, agentId: hello.value.agent.id };
}

function push(dataset: string, seq: number, content: unknown) {
  const bytes = Buffer.from(JSON.stringify(content), 'utf8');
  return {
    dataset,
    seq,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    fields: Object.keys(content as object),
    content: bytes,
  };
}

async function datasetAudit(tenantId: string) {
  return t.services.database.db
    .selectFrom('audit_events')
    .select(['action', 'target_id'])
    .where('tenant_id', '=', tenantId)
    .where('action', 'like', 'dataset.%')
    .orderBy('seq')
    .execute();
}

describe('datasets on the control plane', () => {
  it('refuses a payload that does not match its hash, and stores nothing', async () => {
    const { tenantId, agentId } = await enrolledAgent();
    const forged = {
      ...push('analytics', 1, { signups: 1 }),
      content: Buffer.from('{"signups":999}'),
    };
    const result = await t.services.datasets.receive(agentId, forged, null);
    expect(result).toEqual({ ok: false, error: expect.stringMatching(/does not match its sha256/) });
    expect(await datasetAudit(tenantId)).toEqual([]);
  });

  it('answers a resent push as done once, and refuses the same sequence with other content', async () => {
    const { tenantId, agentId } = await enrolledAgent();
    const first = push('analytics', 1, { signups: 1 });
    expect(await t.services.datasets.receive(agentId, first, null)).toEqual({ ok: true, value: 'recorded' });
    expect(await t.services.datasets.receive(agentId, first, null)).toEqual({
      ok: true,
      value: 'already_recorded',
    });
    const other = push('analytics', 1, { signups: 2 });
    expect(await t.services.datasets.receive(agentId, other, null)).toMatchObject({ ok: false });
    expect(await datasetAudit(tenantId)).toEqual([{ action: 'dataset.received', target_id: 'analytics' }]);
    const latest = await t.services.datasets.latest(ctx, tenantId, 'analytics');
    expect(latest).toMatchObject({ ok: true, value: { seq: 1, content: { signups: 1 } } });
  });

  it("refuses a revoked agent's push", async () => {
    const { tenantId, agentId } = await enrolledAgent();
    await t.services.agents.revoke(ctx, agentId);
    const result = await t.services.datasets.receive(agentId, push('analytics', 1, { signups: 1 }), null);
    expect(result).toMatchObject({ ok: false, error: expect.stringMatching(/not active/) });
    expect(
      await t.services.database.db
        .selectFrom('agent_dataset_snapshots')
        .where('agent_id', '=', agentId)
        .selectAll()
        .execute(),
    ).toEqual([]);
    expect((await datasetAudit(tenantId)).filter((e) => e.action === 'dataset.received')).toEqual([]);
  });

  it("does not open a ciphertext copied onto another tenant's row", async () => {
    const a = await enrolledAgent();
    const b = await enrolledAgent();
    await t.services.datasets.receive(a.agentId, push('analytics', 1, { secret_of: 'A' }), null);
    await t.services.datasets.receive(b.agentId, push('analytics', 1, { secret_of: 'B' }), null);
    const db = t.services.database.db;
    const fromA = await db
      .selectFrom('agent_dataset_snapshots')
      .select('ciphertext')
      .where('agent_id', '=', a.agentId)
      .executeTakeFirstOrThrow();
    await db
      .updateTable('agent_dataset_snapshots')
      .set({ ciphertext: fromA.ciphertext })
      .where('agent_id', '=', b.agentId)
      .execute();
    const read = await t.services.datasets.latest(ctx, b.tenantId, 'analytics');
    expect(read).toMatchObject({ ok: false, error: { code: 'dataset_unreadable' } });
    expect(JSON.stringify(read)).not.toContain('"A"');
  });

  it('audits a switch when it changes, not a first report of off nor a repeat', async () => {
    const { tenantId, agentId } = await enrolledAgent();
    await t.services.datasets.reportSwitches(agentId, { analytics: false, graph: false }, null);
    await t.services.datasets.reportSwitches(agentId, { analytics: true, graph: false }, null);
    await t.services.datasets.reportSwitches(agentId, { analytics: true, graph: false }, null);
    await t.services.datasets.reportSwitches(agentId, { analytics: false, graph: false }, null);
    expect(await datasetAudit(tenantId)).toEqual([
      { action: 'dataset.enabled', target_id: 'analytics' },
      { action: 'dataset.disabled', target_id: 'analytics' },
    ]);
    const listed = await t.services.datasets.list(tenantId);
    expect(listed).toMatchObject({
      ok: true,
      value: [
        { name: 'analytics', enabled: false, last_seq: null },
        { name: 'graph', enabled: false, last_seq: null },
      ],
    });
  });
});
