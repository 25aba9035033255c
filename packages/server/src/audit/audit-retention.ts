import { OPERATOR_CHAIN } from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { SigningKeyService } from '../tokens/index.ts';
import { appendAuditEntries, sealChain } from './audit-chain.ts';
import type { AuditCheckpoints } from './audit-checkpoints.ts';

/**
 * The plan config key that sets how many days a tenant's audit entries are kept. A vendor
 * declares it in its plan file like any config value (`audit_retention_days: {type: integer,
 * default: 365}`) and may override it per tenant; a plan without it keeps entries for ever.
 */
export const AUDIT_RETENTION_CONFIG = 'audit_retention_days';

const DAY_MS = 86_400_000;
/** Tenants read per query while pruning. */
const TENANT_BATCH = 500;

/** What a prune removed. */
export interface AuditPruning {
  /** Chains that lost entries. */
  readonly chains: number;
  readonly removed: number;
}

/**
 * Removes audit entries older than their retention: a tenant's chain by its plan's
 * {@link AUDIT_RETENTION_CONFIG} (with the tenant's override), the operator chain by
 * `TENANTRY_AUDIT_RETENTION_DAYS`. Only ever a chain's oldest entries, and only behind a signed
 * checkpoint of the last one removed (signed now if there is none), so that what remains still
 * verifies from that checkpoint; a chain's last entry is always kept. Each prune is itself
 * audited in the chain (`audit.pruned`).
 */
export class AuditRetention {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #signingKeys: SigningKeyService;
  readonly #checkpoints: AuditCheckpoints;
  readonly #operatorDays: number | undefined;

  constructor(options: {
    db: Kysely<Schema>;
    clock: Clock;
    signingKeys: SigningKeyService;
    checkpoints: AuditCheckpoints;
    operatorRetentionDays: number | undefined;
  }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#signingKeys = options.signingKeys;
    this.#checkpoints = options.checkpoints;
    this.#operatorDays = options.operatorRetentionDays;
  }

  /** Prunes every chain that has a retention. */
  async prune(): Promise<AuditPruning> {
    let chains = 0;
    let removed = 0;
    const count = (n: number) => {
      if (n > 0) {
        chains++;
        removed += n;
      }
    };
    if (this.#operatorDays !== undefined) count(await this.pruneChain(OPERATOR_CHAIN, this.#operatorDays));
    let after = '';
    for (;;) {
      const tenants = await sql<{ id: string; plan_config: unknown; override_config: unknown }>`
        select t.id, pv.definition -> 'config' as plan_config, t.overrides -> 'config' as override_config
        from tenants t join plan_versions pv on pv.plan_id = t.plan_id and pv.version = t.plan_version
        where t.id > ${after}
          and exists (select from audit_chain_heads h where h.chain_id = t.id and h.seq > 1)
        order by t.id limit ${TENANT_BATCH}`.execute(this.#db);
      for (const tenant of tenants.rows) {
        const days = retentionDays(tenant.override_config) ?? retentionDays(tenant.plan_config);
        if (days !== undefined) count(await this.pruneChain(tenant.id, days));
      }
      const last = tenants.rows.at(-1);
      if (!last || tenants.rows.length < TENANT_BATCH) return { chains, removed };
      after = last.id;
    }
  }

  /** Removes the entries of `chain` older than `days` days (never its last); returns how many. */
  async pruneChain(chain: string, days: number): Promise<number> {
    const cutoff = new Date(this.#clock.now().getTime() - days * DAY_MS);
    await this.#signingKeys.ensureKeys();
    return this.#db.transaction().execute(async (tx) => {
      // The head is locked as an append would: the entry written by this prune goes after it.
      const head = await tx
        .selectFrom('audit_chain_heads')
        .select(['seq', 'hash'])
        .where('chain_id', '=', chain)
        .forUpdate()
        .executeTakeFirst();
      if (!head || head.seq <= 1) return 0;
      if (head.hash === null) await sealChain(tx, chain, Number(head.seq));
      const last = await tx
        .selectFrom('audit_events')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('chain_id', '=', chain)
        .where('occurred_at', '<', cutoff)
        .where('seq', '<', head.seq)
        .executeTakeFirst();
      const through = last?.seq === null || last?.seq === undefined ? 0 : Number(last.seq);
      if (through === 0) return 0;
      await this.#checkpoints.signEntry(tx, chain, through);
      const pruned = await sql<{ removed: number }>`
        select tenantry.audit_prune(${chain}, ${through}::bigint) as removed`.execute(tx);
      const removed = Number(pruned.rows[0]?.removed ?? 0);
      if (removed > 0) {
        await appendAuditEntries(tx, [
          {
            actor: { type: 'system', id: 'audit_retention' },
            requestId: null,
            sourceIp: null,
            tenantId: chain === OPERATOR_CHAIN ? null : chain,
            action: 'audit.pruned',
            targetType: 'audit_chain',
            targetId: chain,
            before: null,
            after: null,
            data: { through_seq: through, removed, retention_days: days, cutoff: cutoff.toISOString() },
          },
        ]);
      }
      return removed;
    });
  }
}

/** A retention in whole days, or undefined when `config` sets none (or a value that is not one). */
function retentionDays(config: unknown): number | undefined {
  if (typeof config !== 'object' || config === null) return undefined;
  const value = (config as Record<string, unknown>)[AUDIT_RETENTION_CONFIG];
  return typeof value === 'number' && Number.isInteger(value) && value > 0 ? value : undefined;
}
