import { createHash } from 'node:crypto';
import {
  type AuditEntryView,
  auditEntryHash,
  auditPreimageParts,
  OPERATOR_CHAIN,
  redact,
  type Sha256Hex,
} from '@tenantry/core';
import { type Selectable, sql, type Transaction } from 'kysely';
import type { AuditEventsTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { Actor } from '../request-context.ts';

/** SHA-256 as core's audit functions take it. */
export const sha256Hex: Sha256Hex = (text) => createHash('sha256').update(text, 'utf8').digest('hex');

/** One entry to append to the audit log; see {@link appendAuditEntries}. */
export type AuditWrite = {
  actor: Actor;
  requestId: string | null;
  sourceIp: string | null;
  /** The tenant the entry is about: it goes to that tenant's chain; null: the operator chain. */
  tenantId: string | null;
  /** `<object>.<past participle>`, e.g. `tenant.suspended`. */
  action: string;
  targetType: string;
  targetId: string;
  /** The changed fields' values before and after the change; secrets never (they are redacted if given). */
  before: Record<string, unknown> | null;
  after: Record<string, unknown> | null;
  data: Record<string, unknown>;
};

/** The chain an entry about `tenantId` belongs to. */
export function chainOf(tenantId: string | null): string {
  return tenantId ?? OPERATOR_CHAIN;
}

interface Head {
  seq: number;
  hash: string | null;
}

/**
 * Appends entries to the audit log in the caller's transaction, so they commit or roll back with
 * the change they record. Each goes to its chain (its tenant's, or the operator's) after the
 * chain's last entry, its hash covering its content and that entry's hash.
 *
 * One entry (the common case) is one statement, which hashes it in the database (see
 * {@link appendOne}). Several are two statements however many entries and chains: the chains'
 * heads are locked (`FOR UPDATE`, in chain order, so that two transactions appending to the same
 * chains cannot deadlock each other), then the entries are hashed here, inserted and the heads
 * advanced in one statement. A chain's head stays locked until the transaction ends: writers to
 * one tenant's chain take turns, writers to different chains do not meet. A transaction that
 * appends several times takes its locks as it goes, so two such transactions touching the same
 * chains in opposite orders can deadlock: PostgreSQL aborts one (40P01), which a caller running
 * it under withRetry runs again. Append once per transaction, with every entry, where it can.
 */
export async function appendAuditEntries(
  tx: Transaction<Schema>,
  entries: readonly AuditWrite[],
): Promise<void> {
  if (entries.length === 0) return;
  const [only] = entries;
  if (entries.length === 1 && only && (await appendOne(tx, only))) return;
  const chains = [...new Set(entries.map((e) => chainOf(e.tenantId)))].sort();
  const { heads, now } = await lockHeads(tx, chains);
  for (const chain of chains) {
    const head = heads.get(chain);
    if (head && head.hash === null && head.seq > 0) head.hash = await sealChain(tx, chain, head.seq);
  }
  const occurredAt = now.toISOString();
  const rows: Record<string, unknown>[] = [];
  for (const entry of entries) {
    const chain = chainOf(entry.tenantId);
    const head = heads.get(chain);
    if (!head) throw new Error(`audit chain ${chain} was not locked`);
    const view = {
      id: newId('aud'),
      chain,
      occurred_at: occurredAt,
      actor: { type: entry.actor.type, id: entry.actor.id },
      request_id: entry.requestId,
      source_ip: entry.sourceIp,
      tenant_id: entry.tenantId,
      action: entry.action,
      target: { type: entry.targetType, id: entry.targetId },
      before: storable(entry.before),
      after: storable(entry.after),
      data: storable(entry.data) ?? {},
      prev_hash: head.hash,
    };
    const hash = auditEntryHash(view, sha256Hex);
    head.seq += 1;
    head.hash = hash;
    rows.push({
      id: view.id,
      chain_id: chain,
      seq: head.seq,
      prev_hash: view.prev_hash,
      hash,
      occurred_at: occurredAt,
      actor_type: view.actor.type,
      actor_id: view.actor.id,
      tenant_id: view.tenant_id,
      action: view.action,
      target_type: view.target.type,
      target_id: view.target.id,
      request_id: view.request_id,
      source_ip: view.source_ip,
      before: view.before,
      after: view.after,
      data: view.data,
    });
  }
  const advanced = chains.map((chain) => ({ chain_id: chain, ...heads.get(chain) }));
  await sql`
    with appended as (
      insert into audit_events (id, chain_id, seq, prev_hash, hash, occurred_at, actor_type, actor_id,
        tenant_id, action, target_type, target_id, request_id, source_ip, "before", "after", data)
      select id, chain_id, seq, prev_hash, hash, occurred_at, actor_type, actor_id,
        tenant_id, action, target_type, target_id, request_id, source_ip, "before", "after", data
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as x(id text, chain_id text, seq bigint,
        prev_hash text, hash text, occurred_at timestamptz, actor_type text, actor_id text, tenant_id text,
        action text, target_type text, target_id text, request_id text, source_ip text, "before" jsonb,
        "after" jsonb, data jsonb)
      returning 1
    )
    update audit_chain_heads h set seq = x.seq, hash = x.hash
    from jsonb_to_recordset(${JSON.stringify(advanced)}::jsonb) as x(chain_id text, seq bigint, hash text)
    where h.chain_id = x.chain_id`.execute(tx);
}

/**
 * The common case, one entry, in one statement: the chain's head is locked and read, the entry's
 * preimage finished with the time and the head's hash and hashed (`sha256()`), the entry inserted
 * and the head advanced, all in the database. Answers false, having written nothing, when the
 * chain has no head yet or one still to seal: {@link appendAuditEntries} then takes the long way.
 * So the entry always follows one (a committed head is never at 0): its `prev_hash` is a string.
 */
export async function appendOne(tx: Transaction<Schema>, entry: AuditWrite): Promise<boolean> {
  const chain = chainOf(entry.tenantId);
  const id = newId('aud');
  const before = storable(entry.before);
  const after = storable(entry.after);
  const data = storable(entry.data) ?? {};
  const { head, tail } = auditPreimageParts({
    id,
    chain,
    actor: { type: entry.actor.type, id: entry.actor.id },
    request_id: entry.requestId,
    source_ip: entry.sourceIp,
    tenant_id: entry.tenantId,
    action: entry.action,
    target: { type: entry.targetType, id: entry.targetId },
    before,
    after,
    data,
  });
  // The time is written as JavaScript's toISOString() writes it: that is what a verifier reads.
  const appended = await sql<{ seq: number }>`
    with head as (
      select seq, hash, date_trunc('milliseconds', clock_timestamp()) as at from audit_chain_heads
      where chain_id = ${chain} and hash is not null
      for update
    ), entry as (
      select seq + 1 as seq, hash as prev_hash, at,
        encode(sha256(convert_to(${head} || '"' || to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
          || '","prev_hash":"' || hash || '"' || ${tail}, 'UTF8')), 'hex') as hash
      from head
    ), appended as (
      insert into audit_events (id, chain_id, seq, prev_hash, hash, occurred_at, actor_type, actor_id,
        tenant_id, action, target_type, target_id, request_id, source_ip, "before", "after", data)
      select ${id}, ${chain}, seq, prev_hash, hash, at, ${entry.actor.type}, ${entry.actor.id}, ${entry.tenantId},
        ${entry.action}, ${entry.targetType}, ${entry.targetId}, ${entry.requestId}, ${entry.sourceIp},
        ${before === null ? null : JSON.stringify(before)}::jsonb, ${after === null ? null : JSON.stringify(after)}::jsonb,
        ${JSON.stringify(data)}::jsonb
      from entry
      returning seq, hash
    )
    update audit_chain_heads h set seq = appended.seq, hash = appended.hash
    from appended where h.chain_id = ${chain}
    returning h.seq`.execute(tx);
  return appended.rows.length === 1;
}

/**
 * What the database will give back for `value`: the hash is taken over the value as it reads
 * back from `jsonb` (dates as strings, `undefined` members gone), so that a verifier reading the
 * entry gets the same hash. Secrets are redacted.
 */
function storable(value: Record<string, unknown> | null): Record<string, unknown> | null {
  if (value === null) return null;
  return JSON.parse(JSON.stringify(redact(value))) as Record<string, unknown>;
}

/**
 * Locks the heads of `chains` (sorted) for the rest of the transaction, making those that do not
 * exist yet, and reads the database's clock once the locks are held: the entries' time.
 */
async function lockHeads(
  tx: Transaction<Schema>,
  chains: readonly string[],
): Promise<{ heads: Map<string, Head>; now: Date }> {
  const select = () =>
    sql<{ chain_id: string; seq: number; hash: string | null; now: Date }>`
      select chain_id, seq, hash, date_trunc('milliseconds', clock_timestamp()) as now
      from audit_chain_heads where chain_id = any(${chains}::text[])
      order by chain_id for update`.execute(tx);
  let rows = (await select()).rows;
  if (rows.length < chains.length) {
    // A chain's first entry: its head is made, then everything is locked again in order (a
    // concurrent first entry waits on the insert and then finds the head made).
    await sql`insert into audit_chain_heads (chain_id, seq, hash)
      select unnest(${chains}::text[]), 0, null on conflict (chain_id) do nothing`.execute(tx);
    rows = (await select()).rows;
  }
  const first = rows[0];
  if (!first || rows.length !== chains.length) throw new Error('audit chain heads could not be locked');
  return {
    heads: new Map(rows.map((r) => [r.chain_id, { seq: Number(r.seq), hash: r.hash }])),
    now: new Date(first.now),
  };
}

/** An entry as the API shows it, from its row. */
export function entryView(row: Selectable<AuditEventsTable>): AuditEntryView {
  return {
    object: 'audit_entry',
    id: row.id,
    chain: row.chain_id,
    seq: Number(row.seq),
    occurred_at: new Date(row.occurred_at).toISOString(),
    actor: { type: row.actor_type, id: row.actor_id },
    request_id: row.request_id,
    source_ip: row.source_ip,
    tenant_id: row.tenant_id,
    action: row.action,
    target: { type: row.target_type, id: row.target_id },
    before: row.before ?? null,
    after: row.after ?? null,
    data: row.data ?? {},
    prev_hash: row.prev_hash,
    hash: row.hash,
  };
}

const SEAL_BATCH = 2000;

/**
 * Hashes a chain's entries that were written before chaining (up to `through`, its head), in
 * order, through `tenantry.audit_seal`, and sets the head's hash to that of entry `through`, which
 * it returns. The caller holds the chain's head lock.
 */
export async function sealChain(tx: Transaction<Schema>, chain: string, through: number): Promise<string> {
  let prev: string | null = null;
  let after = 0;
  for (;;) {
    const rows = await tx
      .selectFrom('audit_events')
      .selectAll()
      .where('chain_id', '=', chain)
      .where('seq', '>', after)
      .where('seq', '<=', through)
      .orderBy('seq')
      .limit(SEAL_BATCH)
      .execute();
    if (rows.length === 0) break;
    const sealed: { seq: number; prev_hash: string | null; hash: string }[] = [];
    for (const row of rows) {
      if (row.hash !== null) {
        prev = row.hash;
        continue;
      }
      const hash = auditEntryHash({ ...entryView(row), prev_hash: prev }, sha256Hex);
      sealed.push({ seq: Number(row.seq), prev_hash: prev, hash });
      prev = hash;
    }
    if (sealed.length > 0)
      await sql`select tenantry.audit_seal(${chain}, ${JSON.stringify(sealed)}::jsonb)`.execute(tx);
    after = Number(rows.at(-1)?.seq ?? through);
  }
  if (prev === null) throw new Error(`audit chain ${chain} has no entries up to ${through} to seal`);
  await tx.updateTable('audit_chain_heads').set({ hash: prev }).where('chain_id', '=', chain).execute();
  return prev;
}
