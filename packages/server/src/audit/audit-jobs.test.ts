import { OPERATOR_CHAIN, verifyAuditChains } from '@tenantry/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { recordAudit } from '../../test/audit-support.ts';
import { startTestApp, type TestApp } from '../../test/harness.ts';
import { DAY_MS } from '../../test/tenant-support.ts';
import { systemContext } from '../request-context.ts';
import { entryView, sha256Hex } from './audit-chain.ts';

let t: TestApp;
beforeAll(async () => {
  t = await startTestApp();
});
afterAll(() => t.close());

const db = () => t.services.database.db;

async function chainEntries(chain: string) {
  const rows = await db()
    .selectFrom('audit_events')
    .selectAll()
    .where('chain_id', '=', chain)
    .orderBy('seq')
    .execute();
  return rows.map(entryView);
}

async function checkpointsOf(chain: string) {
  return db()
    .selectFrom('audit_checkpoints')
    .selectAll()
    .where('chain_id', '=', chain)
    .orderBy('seq')
    .execute();
}

describe('the periodic jobs', () => {
  test('are scheduled once however often asked, run, and schedule themselves again', async () => {
    await t.services.audit.schedule();
    await t.services.audit.schedule();
    const pending = await db()
      .selectFrom('jobs')
      .select(['kind', 'run_at'])
      .where('kind', 'like', 'audit.%')
      .where('status', '=', 'pending')
      .orderBy('kind')
      .execute();
    expect(pending.map((j) => j.kind)).toEqual(['audit.checkpoint', 'audit.prune']);

    await t.services.jobs.runDue();
    const jobs = await db()
      .selectFrom('jobs')
      .select(['kind', 'status', 'run_at'])
      .where('kind', 'like', 'audit.%')
      .orderBy('kind')
      .orderBy('run_at')
      .execute();
    const now = t.clock.now().getTime();
    expect(
      jobs.map((j) => [j.kind, j.status, j.status === 'pending' ? j.run_at.getTime() - now : null]),
    ).toEqual([
      ['audit.checkpoint', 'succeeded', null],
      ['audit.checkpoint', 'pending', 60 * 60_000],
      ['audit.prune', 'succeeded', null],
      ['audit.prune', 'pending', DAY_MS],
    ]);
    // The checkpoint job signed the operator chain's head (the test key's creation moved it).
    const [head] = await db()
      .selectFrom('audit_chain_heads')
      .selectAll()
      .where('chain_id', '=', OPERATOR_CHAIN)
      .execute();
    expect((await checkpointsOf(OPERATOR_CHAIN)).map((c) => [Number(c.seq), c.hash])).toEqual([
      [Number(head?.seq), head?.hash],
    ]);
  });
});

describe('checkpoints', () => {
  test('seal a chain written before chaining that nobody writes to, and sign its head', async () => {
    await sql`
      insert into audit_events (id, occurred_at, actor_type, actor_id, tenant_id, action, target_type, target_id,
        request_id, data, chain_id, seq)
      values
        ('aud_legacy1', '2026-01-01T00:00:00.000Z', 'api_key', 'key_1', 'ten_legacy', 'tenant.created', 'tenant', 'ten_legacy', null, '{}', 'ten_legacy', 1),
        ('aud_legacy2', '2026-01-02T00:00:00.000Z', 'api_key', 'key_1', 'ten_legacy', 'tenant.suspended', 'tenant', 'ten_legacy', null, '{"reason":"x"}', 'ten_legacy', 2);
      insert into audit_chain_heads (chain_id, seq, hash) values ('ten_legacy', 2, null);`.execute(db());
    expect(await t.services.audit.checkpoints.signMovedHeads()).toBe(1);
    const entries = await chainEntries('ten_legacy');
    expect(entries.map((e) => [e.id, e.seq, e.hash !== null])).toEqual([
      ['aud_legacy1', 1, true],
      ['aud_legacy2', 2, true],
    ]);
    const [checkpoint] = await checkpointsOf('ten_legacy');
    expect(checkpoint).toMatchObject({ seq: 2, hash: entries[1]?.hash });
    const verified = verifyAuditChains(entries, sha256Hex, [
      {
        chain: 'ten_legacy',
        seq: 2,
        hash: checkpoint?.hash ?? '',
        signed_at: checkpoint?.signed_at.toISOString() ?? '',
      },
    ]);
    expect(verified.ok).toBe(true);
  });
});

describe('retention of the operator chain', () => {
  test('prunes what is older than its days behind a checkpoint, keeps the last entry, and audits the prune', async () => {
    await db()
      .transaction()
      .execute((tx) =>
        recordAudit(tx, systemContext('test'), {
          action: 'plan.created',
          targetType: 'plan',
          targetId: 'pln_old',
        }),
      );
    const before = await chainEntries(OPERATOR_CHAIN);
    // Nothing is older than 30 days yet.
    expect(await t.services.audit.retention.pruneChain(OPERATOR_CHAIN, 30)).toBe(0);
    const now = (await sql<{ now: Date }>`select now() as now`.execute(db())).rows[0]?.now ?? new Date();
    t.clock.advance(new Date(now).getTime() + 31 * DAY_MS - t.clock.now().getTime());
    const removed = await t.services.audit.retention.pruneChain(OPERATOR_CHAIN, 30);
    expect(removed).toBe(before.length - 1);
    const after = await chainEntries(OPERATOR_CHAIN);
    const last = before.at(-1);
    expect(after.map((e) => e.id)).toEqual([last?.id, expect.any(String)]);
    expect(after[1]).toMatchObject({
      action: 'audit.pruned',
      actor: { type: 'system', id: 'audit_retention' },
      data: { through_seq: Number(last?.seq) - 1, removed, retention_days: 30 },
    });
    const checkpoints = (await checkpointsOf(OPERATOR_CHAIN)).map((c) => ({
      chain: c.chain_id,
      seq: Number(c.seq),
      hash: c.hash,
      signed_at: c.signed_at.toISOString(),
    }));
    const verified = verifyAuditChains(after, sha256Hex, checkpoints);
    expect(verified.chains[0]?.problems).toEqual([]);
    expect(verified.chains[0]).toMatchObject({ first_seq: last?.seq, checkpointed_seq: expect.any(Number) });
  });
});
