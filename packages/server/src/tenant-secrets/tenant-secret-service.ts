import {
  type DomainError,
  err,
  type FieldError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
} from '@tenantry/core';
import { MAX_SECRET_VALUE_BYTES } from '@tenantry/core/api/requests';
import type { Kysely, Selectable, Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema, TenantSecretsTable } from '../db/index.ts';
import { newId } from '../ids.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import { type SecretBox, SecretUnreadableError } from '../secrets/index.ts';
import {
  dataKeyPurpose,
  decryptValue,
  encryptValue,
  newSealedDataKey,
  openDataKey,
  secretBinding,
} from './envelope.ts';

/**
 * A secret's name: lower-case letters, digits, `_`, `.` and `-`, at most 100, starting with a
 * letter or digit (so that no name is `.` or `..`, which URLs would resolve away).
 */
export const SECRET_NAME = /^[a-z0-9][a-z0-9_.-]{0,99}$/;

/** A secret as the API shows it: never its value. */
export interface TenantSecretView {
  id: string;
  tenant_id: string;
  name: string;
  version: number;
  created_at: string;
  /** When its current version was set by a rotation; null while it is at version 1. */
  rotated_at: string | null;
}

/** A secret's value, as the vendor's app reads it. */
export interface RevealedSecret {
  name: string;
  version: number;
  value: string;
}

type SecretRow = Selectable<TenantSecretsTable>;

/**
 * Tenants' own secrets (their AI provider, cloud or signing keys) under envelope encryption:
 * each tenant has a random data key sealed with the master key, and each secret is AES-256-GCM
 * under it, bound to its tenant, name and version. Values are written here and read only by
 * {@link reveal}, which audits each read before it answers; nothing else returns them.
 */
export class TenantSecretService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #secrets: SecretBox;

  constructor(deps: { db: Kysely<Schema>; clock: Clock; secrets: SecretBox }) {
    this.#db = deps.db;
    this.#clock = deps.clock;
    this.#secrets = deps.secrets;
  }

  /**
   * Sets a tenant's secret: creates it as version 1, or rotates it to its next version, whose
   * ciphertext replaces the previous one (destroyed at once). `created` says which.
   */
  async set(
    ctx: RequestContext,
    tenantRef: string,
    name: string,
    value: string,
  ): Promise<Result<{ secret: TenantSecretView; created: boolean }, DomainError>> {
    const errors = [...nameErrors(name), ...valueErrors(value)];
    if (errors.length > 0) return invalid(errors);
    return this.#db.transaction().execute(async (tx) => {
      // Shared lock on the tenant: a deletion (which locks it to update) waits for this write
      // or goes first, so no secret or data key is written for a tenant once it is deleted.
      const tenant = await findTenant(tx, tenantRef, 'share');
      if (!tenant) return tenantNotFound(tenantRef);
      if (tenant.state === 'deleted')
        return fail('tenant_deleted', `tenant ${tenant.id} is deleted: its secrets were destroyed`);
      const dataKey = await tenantDataKey(tx, this.#secrets, tenant.id);
      if (!dataKey.ok) return unreadable(tenant.id, name, dataKey.error);
      const now = this.#clock.now();
      const encrypt = (version: number) =>
        encryptValue(dataKey.value, secretBinding(tenant.id, name, version), value);
      const { row, created } = await writeSecret(tx, tenant.id, name, encrypt, now);
      await recordChange(tx, ctx, {
        action: created ? 'tenant_secret.set' : 'tenant_secret.rotated',
        tenantId: tenant.id,
        target: { type: 'tenant_secret', id: row.id },
        data: { name, version: row.version },
        occurredAt: now,
      });
      return ok({ secret: viewOf(row), created });
    });
  }

  /** A tenant's secrets by name, a page at a time: names, versions and times, never values. */
  async list(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<TenantSecretView>, DomainError>> {
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    let query = this.#db
      .selectFrom('tenant_secrets')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .orderBy('name')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('name', '>', page.cursor);
    return ok(keysetPage(await query.execute(), page.limit, viewOf, (row) => row.name));
  }

  /** Deletes a tenant's secret with its ciphertext. */
  async delete(
    ctx: RequestContext,
    tenantRef: string,
    name: string,
  ): Promise<Result<TenantSecretView, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const tenant = await findTenant(tx, tenantRef);
      if (!tenant) return tenantNotFound(tenantRef);
      const row = await tx
        .deleteFrom('tenant_secrets')
        .where('tenant_id', '=', tenant.id)
        .where('name', '=', name)
        .returningAll()
        .executeTakeFirst();
      if (!row) return secretNotFound(tenant.id, name);
      await recordChange(tx, ctx, {
        action: 'tenant_secret.deleted',
        tenantId: tenant.id,
        target: { type: 'tenant_secret', id: row.id },
        data: { name, version: row.version },
        occurredAt: this.#clock.now(),
      });
      return ok(viewOf(row));
    });
  }

  /**
   * Decrypts a tenant's secret for the vendor's app. The read is audited (`tenant_secret.read`)
   * in the transaction that reads the ciphertext, and the value is answered only once that
   * commits: no value leaves without its audit entry. A ciphertext that does not decrypt for this
   * tenant, name and version (copied from elsewhere, altered, or its data key destroyed) is
   * `tenant_secret_unreadable`, and nothing is recorded as read.
   */
  async reveal(
    ctx: RequestContext,
    tenantRef: string,
    name: string,
  ): Promise<Result<RevealedSecret, DomainError>> {
    return this.#db.transaction().execute(async (tx) => {
      const tenant = await findTenant(tx, tenantRef);
      if (!tenant) return tenantNotFound(tenantRef);
      const row = await tx
        .selectFrom('tenant_secrets as s')
        .leftJoin('tenant_data_keys as k', 'k.tenant_id', 's.tenant_id')
        .select(['s.id', 's.version', 's.ciphertext', 'k.sealed'])
        .where('s.tenant_id', '=', tenant.id)
        .where('s.name', '=', name)
        .executeTakeFirst();
      if (!row) return secretNotFound(tenant.id, name);
      if (row.sealed === null)
        return unreadable(tenant.id, name, 'the tenant has no data key: it was destroyed (crypto-shredded)');
      const dataKey = await openSealedDataKey(this.#secrets, tenant.id, row.sealed);
      if (!dataKey.ok) return unreadable(tenant.id, name, dataKey.error);
      const value = decryptValue(dataKey.value, secretBinding(tenant.id, name, row.version), row.ciphertext);
      if (value === null)
        return unreadable(
          tenant.id,
          name,
          `its ciphertext does not decrypt as version ${row.version} of this name for this tenant: it was altered or copied from another row`,
        );
      await recordChange(tx, ctx, {
        action: 'tenant_secret.read',
        tenantId: tenant.id,
        target: { type: 'tenant_secret', id: row.id },
        data: { name, version: row.version },
        occurredAt: this.#clock.now(),
      });
      return ok({ name, version: row.version, value });
    });
  }

  /**
   * Seals every tenant's data key again with the current master key where an older one sealed
   * it, audited; throws when no master key given opens one. Run on start, as for webhook and
   * signing keys, so that the old master key can be dropped after a rotation. Only the wrapping
   * changes: the data keys, and so every secret's ciphertext, stay as they are.
   */
  async resealDataKeys(): Promise<void> {
    // Every start asks, a rotation seldom needs it: read without locks, and lock only the stale.
    const stale = (await this.#db.selectFrom('tenant_data_keys').select(['tenant_id', 'sealed']).execute())
      .filter((row) => !this.#secrets.isCurrent(row.sealed))
      .map((row) => row.tenant_id);
    if (stale.length === 0) return;
    await this.#db.transaction().execute(async (tx) => {
      const rows = await tx
        .selectFrom('tenant_data_keys')
        .select(['tenant_id', 'sealed'])
        .where('tenant_id', 'in', stale)
        .forUpdate()
        .execute();
      for (const row of rows) {
        const resealed = await this.#secrets.reseal(dataKeyPurpose(row.tenant_id), row.sealed);
        if (resealed === null) continue;
        await tx
          .updateTable('tenant_data_keys')
          .set({ sealed: resealed })
          .where('tenant_id', '=', row.tenant_id)
          .execute();
        await recordChange(tx, systemContext('tenant_secrets'), {
          action: 'tenant_data_key.resealed',
          tenantId: row.tenant_id,
          target: { type: 'tenant_data_key', id: row.tenant_id },
          data: { master_key_id: this.#secrets.currentKeyId },
          occurredAt: this.#clock.now(),
        });
      }
    });
  }
}

/**
 * The tenant's data key, made (and sealed with the master key) on first use, in the caller's
 * transaction: what its secrets and its BYOI data connection are encrypted under. Not found:
 * why it does not open, as {@link openSealedDataKey} says.
 */
export async function tenantDataKey(
  tx: Transaction<Schema>,
  secrets: SecretBox,
  tenantId: string,
): Promise<Result<Buffer, string>> {
  const found = await sealedDataKey(tx, tenantId);
  if (found !== undefined) return openSealedDataKey(secrets, tenantId, found);
  // Two first uses of one tenant at once: both insert, one wins, both use the winner's.
  await tx
    .insertInto('tenant_data_keys')
    .values({ tenant_id: tenantId, sealed: await newSealedDataKey(secrets, tenantId) })
    .onConflict((oc) => oc.column('tenant_id').doNothing())
    .execute();
  const made = await sealedDataKey(tx, tenantId);
  if (made === undefined) throw new Error(`the data key of tenant ${tenantId} vanished as it was made`);
  return openSealedDataKey(secrets, tenantId, made);
}

/**
 * The tenant's data key if it has one, never making one: what a read of something encrypted
 * under it uses. Err when it was destroyed (crypto-shredded with the tenant) or does not open.
 */
export async function existingTenantDataKey(
  db: Kysely<Schema>,
  secrets: SecretBox,
  tenantId: string,
): Promise<Result<Buffer, string>> {
  const found = await sealedDataKey(db, tenantId);
  if (found === undefined) return err('the tenant has no data key: it was destroyed (crypto-shredded)');
  return openSealedDataKey(secrets, tenantId, found);
}

/**
 * The opened data key, or why it does not open: sealed for another tenant (copied), altered,
 * or sealed with a master key this process is not given, as SecretBox words it.
 */
async function openSealedDataKey(
  secrets: SecretBox,
  tenantId: string,
  sealed: string,
): Promise<Result<Buffer, string>> {
  try {
    return ok(await openDataKey(secrets, tenantId, sealed));
  } catch (error) {
    if (error instanceof SecretUnreadableError) return err(`the tenant's data key: ${error.message}`);
    throw error;
  }
}

/**
 * Destroys a tenant's data key and deletes its secrets, in the caller's transaction: what deleting
 * the tenant does (the tenants feature calls it in the transition to `deleted`). The data key is
 * the only key to the tenant's ciphertexts, so any copy of them left elsewhere is unreadable from
 * then on. Recorded as `tenant_data_key.destroyed` when the tenant had one.
 */
export async function destroyTenantDataKey(
  tx: Transaction<Schema>,
  ctx: RequestContext,
  tenantId: string,
  now: Date,
): Promise<void> {
  const secrets = await tx.deleteFrom('tenant_secrets').where('tenant_id', '=', tenantId).execute();
  const key = await tx
    .deleteFrom('tenant_data_keys')
    .where('tenant_id', '=', tenantId)
    .returning('tenant_id')
    .executeTakeFirst();
  if (!key) return;
  await recordChange(tx, ctx, {
    action: 'tenant_data_key.destroyed',
    tenantId,
    target: { type: 'tenant_data_key', id: tenantId },
    data: { secrets_deleted: Number(secrets[0]?.numDeletedRows ?? 0) },
    occurredAt: now,
  });
}

/**
 * Writes version 1 of the secret, or, when it exists, its next version in its place. Inserts
 * first: two first writes of one name at once make one version 1, and the other waits for it and
 * then rotates it, rather than failing on the primary key.
 */
async function writeSecret(
  tx: Transaction<Schema>,
  tenantId: string,
  name: string,
  encrypt: (version: number) => string,
  now: Date,
): Promise<{ row: SecretRow; created: boolean }> {
  for (;;) {
    const inserted = await tx
      .insertInto('tenant_secrets')
      .values({
        tenant_id: tenantId,
        name,
        id: newId('sec'),
        version: 1,
        ciphertext: encrypt(1),
        rotated_at: null,
      })
      .onConflict((oc) => oc.columns(['tenant_id', 'name']).doNothing())
      .returningAll()
      .executeTakeFirst();
    if (inserted) return { row: inserted, created: true };
    const existing = await tx
      .selectFrom('tenant_secrets')
      .select('version')
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .forUpdate()
      .executeTakeFirst();
    // Deleted between the two statements: insert again.
    if (existing === undefined) continue;
    const version = existing.version + 1;
    const rotated = await tx
      .updateTable('tenant_secrets')
      .set({ version, ciphertext: encrypt(version), rotated_at: now })
      .where('tenant_id', '=', tenantId)
      .where('name', '=', name)
      .returningAll()
      .executeTakeFirstOrThrow();
    return { row: rotated, created: false };
  }
}

async function sealedDataKey(tx: Kysely<Schema>, tenantId: string): Promise<string | undefined> {
  const row = await tx
    .selectFrom('tenant_data_keys')
    .select('sealed')
    .where('tenant_id', '=', tenantId)
    .executeTakeFirst();
  return row?.sealed;
}

/** The tenant by id (deleted ones included) or by the slug of one that is not deleted. */
async function findTenant(
  db: Kysely<Schema>,
  ref: string,
  lock?: 'share',
): Promise<{ id: string; state: string } | undefined> {
  let query = db
    .selectFrom('tenants')
    .select(['id', 'state'])
    .where((eb) => eb.or([eb('id', '=', ref), eb.and([eb('slug', '=', ref), eb('state', '<>', 'deleted')])]));
  if (lock === 'share') query = query.forShare();
  return query.executeTakeFirst();
}

function nameErrors(name: string): FieldError[] {
  if (SECRET_NAME.test(name)) return [];
  return [
    {
      path: 'name',
      message:
        'must be 1 to 100 of a-z, 0-9, "_", "." and "-", starting with a letter or digit (e.g. "openai.api_key")',
    },
  ];
}

function valueErrors(value: string): FieldError[] {
  if (value.length === 0) return [{ path: 'value', message: 'must not be empty' }];
  const bytes = Buffer.byteLength(value, 'utf8');
  // The message says the size, never anything of the value.
  if (bytes > MAX_SECRET_VALUE_BYTES)
    return [
      { path: 'value', message: `must be at most ${MAX_SECRET_VALUE_BYTES} bytes of UTF-8, not ${bytes}` },
    ];
  return [];
}

function invalid(errors: readonly FieldError[]) {
  return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
}

function tenantNotFound(ref: string) {
  return fail('tenant_not_found', `no tenant has the id or slug "${ref}"`);
}

function secretNotFound(tenantId: string, name: string) {
  return fail('tenant_secret_not_found', `tenant ${tenantId} has no secret named ${JSON.stringify(name)}`, {
    details: { name },
  });
}

function unreadable(tenantId: string, name: string, why: string) {
  return fail(
    'tenant_secret_unreadable',
    `the secret ${JSON.stringify(name)} of tenant ${tenantId} cannot be decrypted: ${why}. Set it again`,
    { details: { name } },
  );
}

function viewOf(row: SecretRow): TenantSecretView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    version: row.version,
    created_at: new Date(row.created_at).toISOString(),
    rotated_at: row.rotated_at === null ? null : new Date(row.rotated_at).toISOString(),
  };
}
