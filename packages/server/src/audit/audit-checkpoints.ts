import {
  AUDIT_CHECKPOINT_TYPE,
  type AuditCheckpointClaims,
  type AuditCheckpointView,
  canonicalJson,
} from '@tenantry/core';
import { CompactSign } from 'jose';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { Clock } from '../clock.ts';
import type { AuditCheckpointsTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import { SIGNING_ALGORITHM, type SigningKeyService } from '../tokens/index.ts';
import { sealChain } from './audit-chain.ts';

/** Chains signed per transaction by {@link AuditCheckpoints.signMovedHeads}. */
const BATCH = 500;

/** A checkpoint as the API lists it. */
export function checkpointView(row: Selectable<AuditCheckpointsTable>): AuditCheckpointView {
  return {
    object: 'audit_checkpoint',
    id: row.id,
    chain: row.chain_id,
    seq: Number(row.seq),
    hash: row.hash,
    signed_at: new Date(row.signed_at).toISOString(),
    kid: row.kid,
    jws: row.jws,
  };
}

/**
 * Signs audit chains' entries with the control plane's active signing key (the key of access
 * tokens, published at `/.well-known/jwks.json`): a signed `(chain, seq, hash)` vouches for the
 * chain up to that entry, so a verifier holding it can prove nothing before it was rewritten.
 */
export class AuditCheckpoints {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #signingKeys: SigningKeyService;

  constructor(db: Kysely<Schema>, clock: Clock, signingKeys: SigningKeyService) {
    this.#db = db;
    this.#clock = clock;
    this.#signingKeys = signingKeys;
  }

  /**
   * Signs the head of every chain that has moved since its last checkpoint (sealing first the
   * entries of a chain written before chaining); returns how many it signed.
   */
  async signMovedHeads(): Promise<number> {
    await this.#signingKeys.ensureKeys();
    let signed = 0;
    let after = '';
    for (;;) {
      const batch = await this.#db.transaction().execute(async (tx) => {
        const moved = await sql<{ chain_id: string; seq: number; hash: string | null }>`
          select h.chain_id, h.seq, h.hash from audit_chain_heads h
          where h.chain_id > ${after} and h.seq > 0 and not exists (
            select from audit_checkpoints c where c.chain_id = h.chain_id and c.seq >= h.seq)
          order by h.chain_id limit ${BATCH}`.execute(tx);
        const checkpoints: AuditCheckpointClaims[] = [];
        for (const head of moved.rows) {
          let hash = head.hash;
          if (hash === null) hash = await this.#seal(tx, head.chain_id);
          if (hash !== null) checkpoints.push(this.#claims(head.chain_id, Number(head.seq), hash));
        }
        await this.#insert(tx, checkpoints);
        return {
          count: checkpoints.length,
          last: moved.rows.at(-1)?.chain_id,
          more: moved.rows.length === BATCH,
        };
      });
      signed += batch.count;
      if (!batch.more || batch.last === undefined) return signed;
      after = batch.last;
    }
  }

  /**
   * Signs entry `seq` of `chain` (already written and sealed) in `tx`, unless a checkpoint of it
   * exists; call `ensureKeys()` on the signing keys before opening `tx`.
   */
  async signEntry(tx: Transaction<Schema>, chain: string, seq: number): Promise<void> {
    const entry = await tx
      .selectFrom('audit_events')
      .select('hash')
      .where('chain_id', '=', chain)
      .where('seq', '=', seq)
      .executeTakeFirst();
    if (!entry?.hash) throw new Error(`entry ${seq} of audit chain ${chain} is not there or not sealed`);
    const existing = await tx
      .selectFrom('audit_checkpoints')
      .select('id')
      .where('chain_id', '=', chain)
      .where('seq', '=', seq)
      .where('hash', '=', entry.hash)
      .executeTakeFirst();
    if (!existing) await this.#insert(tx, [this.#claims(chain, seq, entry.hash)]);
  }

  /** Seals a chain under its head lock, if it is still unsealed; returns its head's hash. */
  async #seal(tx: Transaction<Schema>, chain: string): Promise<string | null> {
    const head = await tx
      .selectFrom('audit_chain_heads')
      .select(['seq', 'hash'])
      .where('chain_id', '=', chain)
      .forUpdate()
      .executeTakeFirst();
    if (!head || head.seq === 0) return null;
    if (head.hash !== null) return head.hash;
    return sealChain(tx, chain, Number(head.seq));
  }

  #claims(chain: string, seq: number, hash: string): AuditCheckpointClaims {
    return { chain, seq, hash, signed_at: this.#clock.now().toISOString() };
  }

  async #insert(tx: Transaction<Schema>, checkpoints: readonly AuditCheckpointClaims[]): Promise<void> {
    if (checkpoints.length === 0) return;
    const key = await this.#signingKeys.activeKey(tx);
    const encoder = new TextEncoder();
    const rows = await Promise.all(
      checkpoints.map(async (claims) => ({
        id: newId('acp'),
        chain_id: claims.chain,
        seq: claims.seq,
        hash: claims.hash,
        kid: key.kid,
        // Canonical JSON: the signed bytes of equal claims are equal.
        jws: await new CompactSign(encoder.encode(canonicalJson(claims)))
          .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: AUDIT_CHECKPOINT_TYPE })
          .sign(key.key),
        signed_at: new Date(claims.signed_at),
      })),
    );
    await tx.insertInto('audit_checkpoints').values(rows).execute();
  }
}
