import { type AuditEntryView, auditEntryHash, OPERATOR_CHAIN, verifyAuditChains } from '@tenantry/core';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, test } from 'vitest';
import { clearAuditLog, recordAudit } from '../../test/audit-support.ts';
import { createTestDatabase, type TestDatabase } from '../../test/harness.ts';
import { withRetry } from '../db/index.ts';
import { systemContext } from '../request-context.ts';
import { type AuditWrite, appendAuditEntries, appendOne, entryView, sha256Hex } from './audit-chain.ts';

let t: TestDatabase;
beforeAll(async () => {
  t = await createTestDatabase();
});
afterAll(() => t.drop());
beforeEach(() => clearAuditLog(t.database.db));

const db = () => t.database.db;

function write(
  tenantId: string | null,
  action = 'tenant.updated',
  extra: Partial<AuditWrite> = {},
): AuditWrite {
  return {
    actor: { type: 'api_key', id: 'key_test' },
    requestId: 'req_1',
    sourceIp: '198.51.100.4',
    tenantId,
    action,
    targetType: tenantId === null ? 'api_key' : 'tenant',
    targetId: tenantId ?? 'key_x',
    before: null,
    after: null,
    data: {},
    ...extra,
  };
}

async function entries(): Promise<AuditEntryView[]> {
  const rows = await db().selectFrom('audit_events').selectAll().orderBy('chain_id').orderBy('seq').execute();
  return rows.map(entryView);
}

async function verify() {
  return verifyAuditChains(await entries(), sha256Hex, []);
}

describe('appendAuditEntries', () => {
  test("puts each entry in its tenant's chain or the operator's, numbered and linked, and a verifier accepts them", async () => {
    await db()
      .transaction()
      .execute((tx) =>
        appendAuditEntries(tx, [write('ten_a'), write(null), write('ten_a', 'tenant.suspended')]),
      );
    await db()
      .transaction()
      .execute((tx) => appendAuditEntries(tx, [write('ten_b'), write('ten_a', 'tenant.resumed')]));
    const all = await entries();
    expect(all.map((e) => [e.chain, e.seq, e.action])).toEqual([
      [OPERATOR_CHAIN, 1, 'tenant.updated'],
      ['ten_a', 1, 'tenant.updated'],
      ['ten_a', 2, 'tenant.suspended'],
      ['ten_a', 3, 'tenant.resumed'],
      ['ten_b', 1, 'tenant.updated'],
    ]);
    const [, a1, a2, a3] = all;
    expect(a1?.prev_hash).toBeNull();
    expect(a2?.prev_hash).toBe(a1?.hash);
    expect(a3?.prev_hash).toBe(a2?.hash);
    expect(a1).toMatchObject({
      actor: { type: 'api_key', id: 'key_test' },
      request_id: 'req_1',
      source_ip: '198.51.100.4',
      tenant_id: 'ten_a',
    });
    const result = await verify();
    expect(result.ok).toBe(true);
    const heads = await db().selectFrom('audit_chain_heads').selectAll().orderBy('chain_id').execute();
    expect(heads.map((h) => [h.chain_id, Number(h.seq), h.hash])).toEqual([
      [OPERATOR_CHAIN, 1, all[0]?.hash],
      ['ten_a', 3, a3?.hash],
      ['ten_b', 1, all[4]?.hash],
    ]);
  });

  test('one entry to a chain with a head is hashed and appended in one statement, in the database', async () => {
    // No head yet: the one-statement path writes nothing and leaves it to the long way.
    expect(
      await db()
        .transaction()
        .execute((tx) => appendOne(tx, write('ten_one'))),
    ).toBe(false);
    expect(await entries()).toEqual([]);
    await db()
      .transaction()
      .execute((tx) => appendAuditEntries(tx, [write('ten_one')]));
    const unicode = write('ten_one', 'tenant.updated', {
      after: { name: 'Ünïcødé ✓ 𝄞 "quoted" \\ back' },
      data: { n: 0.1 + 0.2, nested: { z: 1, a: [null, true] } },
    });
    expect(
      await db()
        .transaction()
        .execute((tx) => appendOne(tx, unicode)),
    ).toBe(true);
    const chain = await entries();
    expect(chain.map((e) => e.seq)).toEqual([1, 2]);
    expect(chain[1]?.prev_hash).toBe(chain[0]?.hash);
    // The database's hash is the one the server computes for several entries, and a verifier.
    const [, second] = chain;
    expect(second?.hash).toBe(second && auditEntryHash(second, sha256Hex));
    expect((await verify()).ok).toBe(true);
  });

  test('thousands of entries over hundreds of chains in one transaction, as an invoice run writes them', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => write(`ten_${String(i % 300).padStart(3, '0')}`));
    await db()
      .transaction()
      .execute((tx) => appendAuditEntries(tx, many));
    const result = await verify();
    expect(result.ok).toBe(true);
    expect(result.chains).toHaveLength(300);
    expect(result.chains.every((c) => c.entries === 10 && c.last_seq === 10)).toBe(true);
  });

  test('concurrent writers to one chain take turns: the chain stays one line', async () => {
    const writers = 12;
    await Promise.all(
      Array.from({ length: writers }, (_, i) =>
        withRetry(() =>
          db()
            .transaction()
            .execute(async (tx) => {
              await appendAuditEntries(tx, [
                write('ten_busy', 'tenant.updated', { data: { writer: i, n: 1 } }),
              ]);
              // A second statement in the same transaction: the head stays locked in between.
              await appendAuditEntries(tx, [
                write('ten_busy', 'tenant.updated', { data: { writer: i, n: 2 } }),
              ]);
            }),
        ),
      ),
    );
    const chain = (await entries()).filter((e) => e.chain === 'ten_busy');
    expect(chain.map((e) => e.seq)).toEqual(Array.from({ length: writers * 2 }, (_, i) => i + 1));
    // Each writer's two entries are adjacent: nobody got in between while it held the chain.
    for (let i = 0; i < chain.length; i += 2) expect(chain[i]?.data.writer).toBe(chain[i + 1]?.data.writer);
    expect((await verify()).ok).toBe(true);
  });

  test('writers to the same chains in different orders do not deadlock', async () => {
    const chains = ['ten_x', 'ten_y', 'ten_z', null];
    await Promise.all(
      Array.from({ length: 16 }, (_, i) => {
        const order = i % 2 === 0 ? chains : [...chains].reverse();
        return db()
          .transaction()
          .execute((tx) =>
            appendAuditEntries(
              tx,
              order.map((c) => write(c)),
            ),
          );
      }),
    );
    const result = await verify();
    expect(result.ok).toBe(true);
    expect(result.chains.map((c) => c.entries)).toEqual([16, 16, 16, 16]);
  });

  test('entries roll back with their transaction, and so does a new chain', async () => {
    await expect(
      db()
        .transaction()
        .execute(async (tx) => {
          await appendAuditEntries(tx, [write('ten_gone')]);
          throw new Error('the change failed');
        }),
    ).rejects.toThrow('the change failed');
    expect(await entries()).toEqual([]);
    expect(await db().selectFrom('audit_chain_heads').selectAll().execute()).toEqual([]);
  });

  test('what is hashed is what reads back: dates, nesting, unicode, numbers; secrets redacted', async () => {
    await db()
      .transaction()
      .execute((tx) =>
        recordAudit(tx, systemContext('test'), {
          action: 'tenant.updated',
          targetType: 'tenant',
          targetId: 'ten_r',
          tenantId: 'ten_r',
          before: { name: 'Old', secret: 'tnt_sk_x', limits: { seats: 1 } },
          after: { name: 'Ünïcødé ✓ 𝄞', limits: { seats: 2.5e-7 }, at: new Date(0), gone: undefined },
          data: { nested: [{ password: 'p' }, 1e21, -0, 0.1 + 0.2], big: 2 ** 53 },
        }),
      );
    const [entry] = await entries();
    expect(entry?.before).toEqual({ name: 'Old', limits: { seats: 1 } });
    expect(entry?.after).toEqual({
      name: 'Ünïcødé ✓ 𝄞',
      limits: { seats: 2.5e-7 },
      at: '1970-01-01T00:00:00.000Z',
    });
    expect(entry?.data).toEqual({ nested: [{}, 1e21, 0, 0.1 + 0.2], big: 2 ** 53 });
    expect(entry?.actor).toEqual({ type: 'system', id: 'test' });
    expect((await verify()).ok).toBe(true);
  });

  test('entries written before chaining are sealed into their chain, in order, before the next append', async () => {
    // As migration 0014 leaves them: numbered in their chains, without hashes, heads unsealed.
    await sql`
      insert into audit_events (id, occurred_at, actor_type, actor_id, tenant_id, action, target_type, target_id,
        request_id, data, chain_id, seq)
      values
        ('aud_old1', '2026-01-01T00:00:00.000Z', 'api_key', 'key_1', 'ten_old', 'tenant.created', 'tenant', 'ten_old', 'req_a', '{"n":1}', 'ten_old', 1),
        ('aud_old2', '2026-01-02T00:00:00.000Z', 'system', 'scheduler', 'ten_old', 'tenant.plan_changed', 'tenant', 'ten_old', null, '{}', 'ten_old', 2),
        ('aud_old3', '2026-01-03T00:00:00.000Z', 'api_key', 'key_1', null, 'plan.created', 'plan', 'pln_1', null, '{}', 'operator', 1);
      insert into audit_chain_heads (chain_id, seq, hash) values ('ten_old', 2, null), ('operator', 1, null);`.execute(
      db(),
    );
    expect((await verify()).chains.flatMap((c) => c.problems.map((p) => p.kind))).toEqual([
      'unsealed',
      'unsealed',
    ]);
    await db()
      .transaction()
      .execute((tx) => appendAuditEntries(tx, [write('ten_old', 'tenant.suspended')]));
    const chain = (await entries()).filter((e) => e.chain === 'ten_old');
    expect(chain.map((e) => [e.id.startsWith('aud_old') ? e.id : 'new', e.seq])).toEqual([
      ['aud_old1', 1],
      ['aud_old2', 2],
      ['new', 3],
    ]);
    expect(chain[2]?.prev_hash).toBe(chain[1]?.hash);
    // The operator chain is not written to: its entry is still unsealed until a checkpoint seals it.
    const result = await verify();
    expect(result.chains.find((c) => c.chain === 'ten_old')?.problems).toEqual([]);
    expect(result.chains.find((c) => c.chain === OPERATOR_CHAIN)?.problems).toEqual([
      expect.objectContaining({ kind: 'unsealed' }),
    ]);
    // A sealed entry is sealed once: sealing it again changes nothing.
    await expect(
      sql`select tenantry.audit_seal('ten_old', '[{"seq":1,"prev_hash":null,"hash":"forged"}]'::jsonb) as n`.execute(
        db(),
      ),
    ).resolves.toMatchObject({ rows: [{ n: 0 }] });
  });
});
