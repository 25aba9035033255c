import { createHash, randomInt } from 'node:crypto';
import {
  canonicalJson,
  type DomainError,
  entitlesUse,
  fail,
  formatTenantKey,
  keysetPage,
  ok,
  type Page,
  type Result,
  TENANT_KEY_RANDOM_CHARS,
  type TenantState,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import type { AccessService } from '../access/index.ts';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema, TenantApiKeysTable } from '../db/index.ts';
import { isId, newId } from '../ids.ts';
import type { AccessPolicyService, Grantor } from '../members/index.ts';
import type { RequestContext } from '../request-context.ts';
import { type TenantService, tenantNotFound } from '../tenants/index.ts';

/** The prefix of tenant keys when the vendor sets none (`TENANTRY_TENANT_KEY_PREFIX`). */
export const DEFAULT_TENANT_KEY_PREFIX = 'tkey_';

/** How precisely `last_used_at` follows the key's use: written at most this often per key. */
export const LAST_USED_RESOLUTION_MS = 60_000;

/** The most tenants one page of key sets, or one revalidation, may hold. */
export const MAX_KEY_SET_TENANTS = 1000;

/** The most keys one report of use may name. */
export const MAX_USED_REPORT = 1000;

/** A tenant API key as the API shows it: never the secret, never its hash. */
export interface TenantKeyView {
  id: string;
  tenant_id: string;
  name: string;
  prefix: string;
  last_four: string;
  permissions: string[];
  created_at: string;
  expires_at: string | null;
  revoked_at: string | null;
  rolled_to: string | null;
  last_used_at: string | null;
}

/** A key just made: the only time its secret is seen. */
export interface CreatedTenantKey extends TenantKeyView {
  secret: string;
}

/** What a new key is made with. */
export interface CreateTenantKeyInput {
  readonly name: string;
  /** The vendor's permissions (`resource:action`), checked for shape by the route and against the access file here. */
  readonly permissions: readonly string[];
  readonly expires_at?: string | undefined;
}

/** A key as the SDK verifies it: by its hash, with what the vendor's API needs to know. */
export interface VerifiableKey {
  id: string;
  hash: string;
  permissions: string[];
  expires_at: string | null;
}

/**
 * One tenant's keys that work now, for the SDK's cache. `version` changes whenever the set does
 * (a key made, rolled, revoked or expired, the tenant suspended or resumed); it is the empty
 * string for a tenant with no working key, so that an SDK that holds nothing for a tenant and
 * asks about it gets nothing back.
 */
export interface TenantKeySet {
  tenant_id: string;
  version: string;
  /** Whether the tenant may use anything (not suspended, cancelled or deleted): its keys work only then. */
  active: boolean;
  /** The CIDR blocks the tenant's keys may be used from (its access policy in force); empty: any address. */
  ip_allow_list: string[];
  keys: VerifiableKey[];
}

/** SHA-256 of the whole key, hex: see the migration (0025) for why a fast hash is right here. */
function hashTenantKey(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function view(row: Selectable<TenantApiKeysTable>): TenantKeyView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    name: row.name,
    prefix: row.prefix,
    last_four: row.last_four,
    permissions: row.permissions,
    created_at: row.created_at.toISOString(),
    expires_at: row.expires_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    rolled_to: row.rolled_to,
    last_used_at: row.last_used_at?.toISOString() ?? null,
  };
}

function keyNotFound(tenantId: string, keyId: string) {
  return fail('tenant_key_not_found', `tenant ${tenantId} has no API key "${keyId}"`);
}

/**
 * Tenant API keys: issued here, shown once, stored as a hash; listed, rolled with an overlap and
 * revoked through the API; verified by the SDK from key sets ({@link sets}, {@link revalidate})
 * that the entitlement stream's word on each tenant keeps current.
 */
export class TenantKeyService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #tenants: TenantService;
  readonly #access: AccessService;
  readonly #accessPolicies: AccessPolicyService;
  readonly #prefix: string;

  constructor(options: {
    db: Kysely<Schema>;
    clock: Clock;
    tenants: TenantService;
    access: AccessService;
    accessPolicies: AccessPolicyService;
    prefix: string;
  }) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#tenants = options.tenants;
    this.#access = options.access;
    this.#accessPolicies = options.accessPolicies;
    this.#prefix = options.prefix;
  }

  /** The prefix new keys get. */
  get prefix(): string {
    return this.#prefix;
  }

  #generate(): string {
    return formatTenantKey(
      this.#prefix,
      Array.from({ length: TENANT_KEY_RANDOM_CHARS }, () => randomInt(62)),
    );
  }

  /** The tenant the path names, unless it is unknown or deleted. */
  async #tenant(tenantRef: string): Promise<Result<{ id: string }, DomainError>> {
    const record = await this.#tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    if (record.state === 'deleted') return fail('tenant_deleted', `tenant ${record.id} is deleted`);
    return ok({ id: record.id });
  }

  /**
   * Makes a key for the tenant; the secret is in the answer and nowhere else. Its permissions
   * must be the vendor's (declared in the access file) and, for a tenant's member acting with
   * their own token (`grantor`), ones the member holds.
   */
  async create(
    ctx: RequestContext,
    tenantRef: string,
    input: CreateTenantKeyInput,
    grantor: Grantor,
  ): Promise<Result<CreatedTenantKey, DomainError>> {
    const tenant = await this.#tenant(tenantRef);
    if (!tenant.ok) return tenant;
    const allowed = await this.#checkPermissions(input.permissions, grantor);
    if (!allowed.ok) return allowed;
    const now = this.#clock.now();
    const expiresAt = input.expires_at === undefined ? null : new Date(input.expires_at);
    if (expiresAt !== null && expiresAt.getTime() <= now.getTime()) {
      return fail('validation_failed', 'the key would never work: `expires_at` is not in the future', {
        errors: [{ path: 'expires_at', message: `must be after ${now.toISOString()}` }],
      });
    }
    const permissions = [...new Set(input.permissions)].sort();
    return ok(
      await this.#db
        .transaction()
        .execute((tx) =>
          this.#insertIn(tx, ctx, { tenantId: tenant.value.id, name: input.name, permissions, expiresAt }),
        ),
    );
  }

  /**
   * Refuses permissions the vendor's access file does not declare, naming each; Tenantry's own
   * tenant-admin permissions are refused too, as a key reaches the vendor's API, never Tenantry's.
   * A member acting with their own token may not hand a key a permission they lack themselves
   * (as for roles: no escalation through a key).
   */
  async #checkPermissions(
    permissions: readonly string[],
    grantor: Grantor,
  ): Promise<Result<void, DomainError>> {
    const catalogue = await this.#access.catalogue();
    const unknown = permissions.filter((permission) => !Object.hasOwn(catalogue.permissions, permission));
    if (unknown.length > 0) {
      return fail('validation_failed', `unknown permissions: ${unknown.join(', ')}`, {
        errors: unknown.map((permission) => ({
          path: `permissions.${permissions.indexOf(permission)}`,
          message: `"${permission}" is not a permission of the access file (tenantry access show lists them)`,
        })),
      });
    }
    return this.#withinGrantor(permissions, grantor);
  }

  #withinGrantor(permissions: readonly string[], grantor: Grantor): Result<void, DomainError> {
    if (grantor === null) return ok(undefined);
    const missing = [...new Set(permissions.filter((p) => !grantor.permissions.has(p)))].sort();
    if (missing.length === 0) return ok(undefined);
    return fail(
      'insufficient_permission',
      `you do not hold ${missing.join(', ')}, so no key of yours may carry it`,
      { details: { missing_permissions: missing } },
    );
  }

  async #insertIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    key: {
      tenantId: string;
      name: string;
      permissions: string[];
      expiresAt: Date | null;
      rolledFrom?: string;
    },
  ): Promise<CreatedTenantKey> {
    const secret = this.#generate();
    const row = await tx
      .insertInto('tenant_api_keys')
      .values({
        id: newId('tak'),
        tenant_id: key.tenantId,
        name: key.name,
        prefix: this.#prefix,
        last_four: secret.slice(-4),
        secret_hash: hashTenantKey(secret),
        permissions: key.permissions,
        expires_at: key.expiresAt,
        revoked_at: null,
        rolled_to: null,
        last_used_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordChange(tx, ctx, {
      action: 'tenant_key.created',
      tenantId: key.tenantId,
      target: { type: 'tenant_api_key', id: row.id },
      data: {
        name: row.name,
        prefix: row.prefix,
        last_four: row.last_four,
        permissions: row.permissions,
        expires_at: row.expires_at?.toISOString() ?? null,
        ...(key.rolledFrom ? { rolled_from: key.rolledFrom } : {}),
      },
      occurredAt: this.#clock.now(),
    });
    return { ...view(row), secret };
  }

  /** The tenant's keys, newest first, without secrets: revoked and expired ones too. */
  async list(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<TenantKeyView>, DomainError>> {
    const tenant = await this.#tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    if (page.cursor !== undefined && !isId('tak', page.cursor)) {
      return unknownCursor();
    }
    let query = this.#db
      .selectFrom('tenant_api_keys')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '<', page.cursor);
    return ok(keysetPage(await query.execute(), page.limit, view, (row) => row.id));
  }

  /** Key `keyId` of the tenant, locked for the rest of the transaction; another tenant's is not found. */
  async #locked(
    tx: Transaction<Schema>,
    tenantId: string,
    keyId: string,
  ): Promise<Result<Selectable<TenantApiKeysTable>, DomainError>> {
    const row = await tx
      .selectFrom('tenant_api_keys')
      .selectAll()
      .where('id', '=', keyId)
      .where('tenant_id', '=', tenantId)
      .forUpdate()
      .executeTakeFirst();
    return row ? ok(row) : keyNotFound(tenantId, keyId);
  }

  /**
   * Gives key `keyId` a successor with a new secret and the same name, permissions and expiry;
   * the old key keeps working for `overlapSeconds` (so the new secret can be deployed), then is
   * refused. The answer is the successor, with its secret.
   */
  async roll(
    ctx: RequestContext,
    tenantRef: string,
    keyId: string,
    overlapSeconds: number,
    grantor: Grantor,
  ): Promise<Result<CreatedTenantKey, DomainError>> {
    const tenant = await this.#tenant(tenantRef);
    if (!tenant.ok) return tenant;
    return this.#db.transaction().execute(async (tx) => {
      const found = await this.#locked(tx, tenant.value.id, keyId);
      if (!found.ok) return found;
      const row = found.value;
      const now = this.#clock.now();
      const why = row.revoked_at
        ? 'revoked'
        : row.rolled_to
          ? `already rolled to ${row.rolled_to}`
          : row.expires_at && row.expires_at <= now
            ? 'expired'
            : null;
      if (why !== null) return fail('tenant_key_inactive', `the tenant API key "${keyId}" is ${why}`);
      // Rolling hands the caller a new secret with the key's permissions: only to one who holds them.
      const within = this.#withinGrantor(row.permissions, grantor);
      if (!within.ok) return within;
      const successor = await this.#insertIn(tx, ctx, {
        tenantId: row.tenant_id,
        name: row.name,
        permissions: row.permissions,
        expiresAt: row.expires_at,
        rolledFrom: row.id,
      });
      // The overlap never lengthens the old key's life past an expiry it already had.
      const overlapEnd = new Date(now.getTime() + overlapSeconds * 1000);
      const expiresAt = row.expires_at && row.expires_at < overlapEnd ? row.expires_at : overlapEnd;
      await tx
        .updateTable('tenant_api_keys')
        .set({ expires_at: expiresAt, rolled_to: successor.id })
        .where('id', '=', row.id)
        .execute();
      await recordChange(tx, ctx, {
        action: 'tenant_key.rolled',
        tenantId: row.tenant_id,
        target: { type: 'tenant_api_key', id: row.id },
        before: { expires_at: row.expires_at?.toISOString() ?? null, rolled_to: null },
        after: { expires_at: expiresAt.toISOString(), rolled_to: successor.id },
        data: { name: row.name, rolled_to: successor.id, expires_at: expiresAt.toISOString() },
        occurredAt: now,
      });
      return ok(successor);
    });
  }

  /** Revokes key `keyId` of the tenant: refused from now on. Revoking twice is harmless. */
  async revoke(
    ctx: RequestContext,
    tenantRef: string,
    keyId: string,
  ): Promise<Result<TenantKeyView, DomainError>> {
    const tenant = await this.#tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    return this.#db.transaction().execute(async (tx) => {
      const found = await this.#locked(tx, tenant.id, keyId);
      if (!found.ok) return found;
      const row = found.value;
      if (row.revoked_at) return ok(view(row));
      const now = this.#clock.now();
      const revoked = await tx
        .updateTable('tenant_api_keys')
        .set({ revoked_at: now })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'tenant_key.revoked',
        tenantId: row.tenant_id,
        target: { type: 'tenant_api_key', id: row.id },
        before: { revoked_at: null },
        after: { revoked_at: now.toISOString() },
        data: { name: row.name },
        occurredAt: now,
      });
      return ok(view(revoked));
    });
  }

  /** The working keys of `tenantIds` (all of them, when undefined), with each tenant's state. */
  async #setsOf(tenantIds: readonly string[] | undefined, after?: string, limit?: number) {
    const now = this.#clock.now();
    let query = this.#db
      .selectFrom('tenant_api_keys as k')
      .innerJoin('tenants as t', 't.id', 'k.tenant_id')
      .select(['k.id', 'k.tenant_id', 'k.secret_hash', 'k.permissions', 'k.expires_at', 't.state'])
      .where('k.revoked_at', 'is', null)
      .where((eb) => eb.or([eb('k.expires_at', 'is', null), eb('k.expires_at', '>', now)]))
      .orderBy('k.tenant_id')
      .orderBy('k.id');
    if (tenantIds !== undefined) query = query.where('k.tenant_id', 'in', tenantIds);
    if (after !== undefined) query = query.where('k.tenant_id', '>', after);
    if (limit !== undefined) {
      // The first `limit` tenants with a working key, every key of each.
      const page = this.#db
        .selectFrom('tenant_api_keys')
        .select('tenant_id')
        .distinct()
        .where('revoked_at', 'is', null)
        .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
        .$if(after !== undefined, (q) => q.where('tenant_id', '>', after as string))
        .orderBy('tenant_id')
        .limit(limit);
      query = query.where('k.tenant_id', 'in', page);
    }
    const rows = await query.execute();
    const sets = new Map<string, HeldSet>();
    for (const row of rows) {
      let set = sets.get(row.tenant_id);
      if (set === undefined) {
        set = { state: row.state as TenantState, ipAllowList: [], keys: [] };
        sets.set(row.tenant_id, set);
      }
      set.keys.push({
        id: row.id,
        hash: row.secret_hash,
        permissions: row.permissions,
        expires_at: row.expires_at?.toISOString() ?? null,
      });
    }
    await this.#addAllowLists(sets);
    return sets;
  }

  /**
   * Each set's IP allow-list, as the tenant's access policy holds it in force. Most tenants have
   * none, so only those with a stored list are asked about (the policy service decides whether
   * their plan still lets it apply).
   */
  async #addAllowLists(sets: Map<string, HeldSet>): Promise<void> {
    if (sets.size === 0) return;
    const listed = await this.#db
      .selectFrom('tenant_access_policies')
      .select('tenant_id')
      .where('tenant_id', 'in', [...sets.keys()])
      .where(sql<boolean>`jsonb_array_length(ip_allow_list) > 0`)
      .execute();
    for (const { tenant_id } of listed) {
      const set = sets.get(tenant_id);
      if (set !== undefined)
        set.ipAllowList = (await this.#accessPolicies.accessPolicyOf(tenant_id)).ip_allow_list;
    }
  }

  /**
   * One page of the key sets of every tenant with a working key, by tenant id: what the SDK loads
   * when it starts and after it reconnects to the stream.
   */
  async sets(page: { limit: number; cursor?: string | undefined }): Promise<Page<TenantKeySet>> {
    const sets = await this.#setsOf(undefined, page.cursor, page.limit);
    const data = [...sets].map(([tenantId, set]) => keySet(tenantId, set));
    return { data, next_cursor: data.length === page.limit ? (data.at(-1)?.tenant_id ?? null) : null };
  }

  /**
   * The key sets whose version differs from the one held, of the tenants named (tenant id →
   * version held, "" for none): what the SDK asks when the stream says tenants changed.
   */
  async revalidate(held: Readonly<Record<string, string>>): Promise<TenantKeySet[]> {
    const ids = Object.keys(held);
    if (ids.length === 0) return [];
    const sets = await this.#setsOf(ids);
    const changed: TenantKeySet[] = [];
    for (const id of ids) {
      const found = sets.get(id);
      const set =
        found === undefined
          ? { tenant_id: id, version: '', active: false, ip_allow_list: [], keys: [] }
          : keySet(id, found);
      if (set.version !== held[id]) changed.push(set);
    }
    return changed;
  }

  /**
   * Notes when keys were used, as the SDK reports them: `last_used_at` moves forward only, to no
   * later than now, and is written at most once a {@link LAST_USED_RESOLUTION_MS} per key.
   * Unknown ids are ignored. Not a change anyone made to what a key may do, so not audited (as an
   * operator key's `last_used_at`).
   */
  async markUsed(reports: readonly { id: string; used_at: string }[]): Promise<void> {
    const now = this.#clock.now().getTime();
    const latest = new Map<string, number>();
    for (const { id, used_at } of reports) {
      const at = Math.min(Date.parse(used_at), now);
      if (at > (latest.get(id) ?? Number.NEGATIVE_INFINITY)) latest.set(id, at);
    }
    if (latest.size === 0) return;
    const rows = [...latest].map(([id, at]) => ({ id, at: new Date(at).toISOString() }));
    // One statement however many keys: an SDK reports its keys in batches.
    await sql`
      update tenant_api_keys as k set last_used_at = u.at
      from jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) as u(id text, at timestamptz)
      where k.id = u.id
        and (k.last_used_at is null or k.last_used_at <= u.at - make_interval(secs => ${LAST_USED_RESOLUTION_MS / 1000}))`.execute(
      this.#db,
    );
  }
}

/** A tenant's working keys as read, before they are versioned. */
interface HeldSet {
  state: TenantState;
  ipAllowList: string[];
  keys: VerifiableKey[];
}

function keySet(tenantId: string, set: HeldSet): TenantKeySet {
  const active = entitlesUse(set.state);
  const ip_allow_list = set.ipAllowList;
  const version = createHash('sha256')
    .update(canonicalJson({ active, ip_allow_list, keys: set.keys }))
    .digest('base64url')
    .slice(0, 22);
  return { tenant_id: tenantId, version, active, ip_allow_list, keys: set.keys };
}
