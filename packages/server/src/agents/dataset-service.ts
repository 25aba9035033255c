import { createHash } from 'node:crypto';
import { type DomainError, fail, ok, type Result } from '@tenantry/core';
import type { Kysely } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';
import { decryptValue, encryptValue, existingTenantDataKey, tenantDataKey } from '../tenant-secrets/index.ts';
import type { WholePush } from './push-assembly.ts';

/** A dataset of a tenant as the API lists it: metadata, never its content. */
export interface DatasetView {
  name: string;
  /** The customer's switch, as the agent last reported it; null when it never reported one. */
  enabled: boolean | null;
  switch_reported_at: string | null;
  agent_id: string;
  last_seq: number | null;
  last_received_at: string | null;
  last_sha256: string | null;
  size_bytes: number | null;
  field_names: string[];
}

/** A dataset's latest push, decrypted. */
export interface DatasetSnapshotView {
  name: string;
  agent_id: string;
  seq: number;
  sha256: string;
  size_bytes: number;
  field_names: string[];
  received_at: string;
  content: unknown;
}

/** The associated data a push is sealed with: copied to another row, it does not open. */
function snapshotBinding(tenantId: string, agentId: string, dataset: string, seq: number): Buffer {
  return Buffer.from(`tenantry.agent_dataset.v1\0${tenantId}\0${agentId}\0${dataset}\0${seq}`, 'utf8');
}

/** The agent acting (over its connection), as the audit log records it. */
function agentContext(agentId: string, sourceIp: string | null): RequestContext {
  return { actor: { type: 'system', id: agentId }, requestId: null, sourceIp };
}

/**
 * Hybrid datasets (docs/agent.md, "Hybrid: opt-in datasets"): what a customer's agent pushes of
 * the datasets the customer enabled, stored encrypted under the tenant's data key, each push
 * and each switch change audited, each read of content audited.
 */
export class DatasetService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;

  constructor(deps: { db: Kysely<Schema>; clock: Clock; secrets: SecretBox }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#secrets = deps.secrets;
  }

  /**
   * Stores one push (its parts put together: push-assembly.ts), encrypted, with its audit entry
   * and `dataset.received` event in the same transaction. The hash is checked against the content; a push resent with a sequence already
   * stored is answered as done (the same one) or refused (a different one).
   */
  async receive(
    agentId: string,
    push: WholePush,
    sourceIp: string | null,
  ): Promise<Result<'recorded' | 'already_recorded', string>> {
    const bytes = push.content;
    if (createHash('sha256').update(bytes).digest('hex') !== push.sha256)
      return { ok: false, error: `the payload of ${push.dataset} #${push.seq} does not match its sha256` };
    const plaintext = bytes.toString('utf8');
    try {
      JSON.parse(plaintext);
    } catch {
      return { ok: false, error: `the payload of ${push.dataset} #${push.seq} is not JSON` };
    }
    return this.#db.transaction().execute(async (tx) => {
      const agent = await tx
        .selectFrom('agents')
        .select(['tenant_id', 'state'])
        .where('id', '=', agentId)
        .executeTakeFirst();
      if (agent === undefined || agent.state !== 'active')
        return { ok: false as const, error: `agent ${agentId} is not active` };
      const existing = await tx
        .selectFrom('agent_dataset_snapshots')
        .select('sha256')
        .where('agent_id', '=', agentId)
        .where('dataset', '=', push.dataset)
        .where('seq', '=', push.seq)
        .executeTakeFirst();
      if (existing !== undefined)
        return existing.sha256 === push.sha256
          ? ok('already_recorded' as const)
          : {
              ok: false as const,
              error: `${push.dataset} #${push.seq} was already received with other content`,
            };
      const dataKey = await tenantDataKey(tx, this.#secrets, agent.tenant_id);
      if (!dataKey.ok) return { ok: false as const, error: dataKey.error };
      const now = this.#clock.now();
      await tx
        .insertInto('agent_dataset_snapshots')
        .values({
          tenant_id: agent.tenant_id,
          agent_id: agentId,
          dataset: push.dataset,
          seq: push.seq,
          sha256: push.sha256,
          size_bytes: bytes.length,
          field_names: [...push.fields],
          received_at: now,
          ciphertext: encryptValue(
            dataKey.value,
            snapshotBinding(agent.tenant_id, agentId, push.dataset, push.seq),
            plaintext,
          ),
        })
        .execute();
      await recordChange(tx, agentContext(agentId, sourceIp), {
        action: 'dataset.received',
        tenantId: agent.tenant_id,
        target: { type: 'dataset', id: push.dataset },
        data: {
          agent_id: agentId,
          dataset: push.dataset,
          seq: push.seq,
          sha256: push.sha256,
          bytes: bytes.length,
          fields: [...push.fields],
        },
        occurredAt: now,
      });
      return ok('recorded' as const);
    });
  }

  /** Records the switches the agent reports; each one that changed is audited. */
  async reportSwitches(
    agentId: string,
    switches: Record<string, boolean>,
    sourceIp: string | null,
  ): Promise<void> {
    await this.#db.transaction().execute(async (tx) => {
      const agent = await tx
        .selectFrom('agents')
        .select(['tenant_id', 'state'])
        .where('id', '=', agentId)
        .executeTakeFirst();
      if (agent === undefined || agent.state !== 'active') return;
      const before = new Map(
        (
          await tx
            .selectFrom('agent_dataset_switches')
            .select(['dataset', 'enabled'])
            .where('agent_id', '=', agentId)
            .execute()
        ).map((row) => [row.dataset, row.enabled]),
      );
      const now = this.#clock.now();
      for (const [dataset, enabled] of Object.entries(switches)) {
        if (before.get(dataset) === enabled) continue;
        await tx
          .insertInto('agent_dataset_switches')
          .values({ tenant_id: agent.tenant_id, agent_id: agentId, dataset, enabled, reported_at: now })
          .onConflict((oc) => oc.columns(['agent_id', 'dataset']).doUpdateSet({ enabled, reported_at: now }))
          .execute();
        // A switch first reported off is the default, not a change: nothing to audit.
        if (!before.has(dataset) && !enabled) continue;
        await recordChange(tx, agentContext(agentId, sourceIp), {
          action: enabled ? 'dataset.enabled' : 'dataset.disabled',
          tenantId: agent.tenant_id,
          target: { type: 'dataset', id: dataset },
          data: { agent_id: agentId, dataset },
          occurredAt: now,
        });
      }
    });
  }

  #tenant(ref: string): Promise<{ id: string } | undefined> {
    return this.#db
      .selectFrom('tenants')
      .select('id')
      .where((eb) => eb.or([eb('id', '=', ref), eb('slug', '=', ref)]))
      .executeTakeFirst();
  }

  /** The tenant's datasets: switches as reported and the last push of each, never content. */
  async list(tenantRef: string): Promise<Result<DatasetView[], DomainError>> {
    const tenant = await this.#tenant(tenantRef);
    if (tenant === undefined) return fail('tenant_not_found', `no tenant ${tenantRef}`);
    const tenantId = tenant.id;
    const switches = await this.#db
      .selectFrom('agent_dataset_switches')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .execute();
    const latest = await this.#db
      .selectFrom('agent_dataset_snapshots')
      .select(['agent_id', 'dataset', 'seq', 'sha256', 'size_bytes', 'field_names', 'received_at'])
      .distinctOn(['dataset'])
      .where('tenant_id', '=', tenantId)
      .orderBy('dataset')
      .orderBy('received_at', 'desc')
      .orderBy('seq', 'desc')
      .execute();
    const names = [...new Set([...switches.map((s) => s.dataset), ...latest.map((l) => l.dataset)])].sort();
    return ok(
      names.map((name) => {
        const sw = switches
          .filter((s) => s.dataset === name)
          .sort((a, b) => b.reported_at.getTime() - a.reported_at.getTime())[0];
        const last = latest.find((l) => l.dataset === name);
        return {
          name,
          enabled: sw?.enabled ?? null,
          switch_reported_at: sw?.reported_at.toISOString() ?? null,
          agent_id: (sw?.agent_id ?? last?.agent_id) as string,
          last_seq: last?.seq ?? null,
          last_received_at: last?.received_at.toISOString() ?? null,
          last_sha256: last?.sha256 ?? null,
          size_bytes: last?.size_bytes ?? null,
          field_names: last?.field_names ?? [],
        };
      }),
    );
  }

  /** The dataset's latest push, decrypted; the read is audited (`dataset.read`). */
  async latest(
    ctx: RequestContext,
    tenantRef: string,
    name: string,
  ): Promise<Result<DatasetSnapshotView, DomainError>> {
    const tenant = await this.#tenant(tenantRef);
    if (tenant === undefined) return fail('tenant_not_found', `no tenant ${tenantRef}`);
    const tenantId = tenant.id;
    const row = await this.#db
      .selectFrom('agent_dataset_snapshots')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .where('dataset', '=', name)
      .orderBy('received_at', 'desc')
      .orderBy('seq', 'desc')
      .limit(1)
      .executeTakeFirst();
    if (row === undefined)
      return fail('dataset_not_found', `tenant ${tenantId} has no push of dataset ${name}`);
    const dataKey = await existingTenantDataKey(this.#db, this.#secrets, tenantId);
    if (!dataKey.ok)
      return fail('dataset_unreadable', `dataset ${name} cannot be decrypted: ${dataKey.error}`);
    const plaintext = decryptValue(
      dataKey.value,
      snapshotBinding(tenantId, row.agent_id, row.dataset, row.seq),
      row.ciphertext,
    );
    if (plaintext === null)
      return fail(
        'dataset_unreadable',
        `dataset ${name} #${row.seq} does not decrypt: it was altered or copied`,
      );
    await this.#db.transaction().execute(async (tx) => {
      await recordChange(tx, ctx, {
        action: 'dataset.read',
        tenantId,
        target: { type: 'dataset', id: name },
        data: { agent_id: row.agent_id, dataset: name, seq: row.seq },
        occurredAt: this.#clock.now(),
      });
    });
    return ok({
      name,
      agent_id: row.agent_id,
      seq: row.seq,
      sha256: row.sha256,
      size_bytes: row.size_bytes,
      field_names: row.field_names,
      received_at: row.received_at.toISOString(),
      content: JSON.parse(plaintext) as unknown,
    });
  }
}
