import {
  type DomainError,
  fail,
  isBuiltInRole,
  ok,
  type Result,
  ROLE_KEY_PATTERN,
  unknownPermissions,
} from '@tenantry/core';
import type { Kysely, Selectable } from 'kysely';
import type { AccessService } from '../access/index.ts';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema, TenantRolesTable } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import type { Grantor } from './member-service.ts';
import { refusable } from './refusable.ts';
import { findTenant, requireFeature } from './tenant-access.ts';

/** A tenant's custom role, as the API shows it. */
export interface RoleView {
  id: string;
  key: string;
  name: string;
  permissions: string[];
  created_at: string;
  updated_at: string;
}

/** The most custom roles one tenant may have. */
export const MAX_CUSTOM_ROLES = 50;

function view(row: Selectable<TenantRolesTable>): RoleView {
  return {
    id: row.id,
    key: row.key,
    name: row.name,
    permissions: [...row.permissions],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/**
 * A tenant's own roles, beside the built-in ones, on plans with the `custom_roles` feature. A role
 * holds tenant-admin and vendor permissions; a member acting with a user token may only put into
 * a role permissions they hold themselves.
 */
export class RoleService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  readonly #access: AccessService;

  constructor(db: Kysely<Schema>, clock: Clock, access: AccessService) {
    this.#db = db;
    this.#clock = clock;
    this.#access = access;
  }

  async list(tenantRef: string): Promise<Result<RoleView[], DomainError>> {
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant.ok) return tenant;
    const rows = await this.#db
      .selectFrom('tenant_roles')
      .selectAll()
      .where('tenant_id', '=', tenant.value.id)
      .orderBy('key')
      .execute();
    return ok(rows.map(view));
  }

  async create(
    ctx: RequestContext,
    tenantRef: string,
    input: { key: string; name: string; permissions: readonly string[] },
    grantor: Grantor,
  ): Promise<Result<RoleView, DomainError>> {
    if (!ROLE_KEY_PATTERN.test(input.key) || isBuiltInRole(input.key)) {
      return fail('validation_failed', `"${input.key}" cannot be a role key`, {
        errors: [
          {
            path: 'key',
            message: isBuiltInRole(input.key)
              ? `"${input.key}" is a built-in role`
              : 'use lowercase letters, digits and underscores, starting with a letter, at most 63 characters',
          },
        ],
      });
    }
    return refusable(this.#db, async (tx) => {
      const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!found.ok) return found;
      const feature = requireFeature(found.value, 'custom_roles', 'A custom role');
      if (!feature.ok) return feature;
      const checked = await this.#checkPermissions(tx, input.permissions, grantor);
      if (!checked.ok) return checked;
      const existing = await tx
        .selectFrom('tenant_roles')
        .select('key')
        .where('tenant_id', '=', found.value.id)
        .execute();
      if (existing.some((r) => r.key === input.key)) {
        return fail('role_exists', `tenant "${found.value.slug}" already has a role "${input.key}"`);
      }
      if (existing.length >= MAX_CUSTOM_ROLES) {
        return fail('validation_failed', `a tenant may have at most ${MAX_CUSTOM_ROLES} custom roles`, {
          errors: [
            { path: 'key', message: `tenant "${found.value.slug}" has ${MAX_CUSTOM_ROLES} roles already` },
          ],
        });
      }
      const now = this.#clock.now();
      const row = await tx
        .insertInto('tenant_roles')
        .values({
          id: newId('rol'),
          tenant_id: found.value.id,
          key: input.key,
          name: input.name,
          permissions: JSON.stringify(checked.value),
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'role.created',
        tenantId: found.value.id,
        target: { type: 'role', id: row.id },
        data: { key: row.key, name: row.name, permissions: checked.value },
        occurredAt: now,
      });
      return ok(view(row));
    });
  }

  async update(
    ctx: RequestContext,
    tenantRef: string,
    key: string,
    input: { name?: string | undefined; permissions?: readonly string[] | undefined },
    grantor: Grantor,
  ): Promise<Result<RoleView, DomainError>> {
    return refusable(this.#db, async (tx) => {
      const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!found.ok) return found;
      const feature = requireFeature(found.value, 'custom_roles', 'A custom role');
      if (!feature.ok) return feature;
      const row = await tx
        .selectFrom('tenant_roles')
        .selectAll()
        .where('tenant_id', '=', found.value.id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) return roleNotFound(key, found.value.slug);
      // The grantor must hold what the role holds now as well as what it is given: else an admin
      // could strip billing:write from a role they could not have made.
      const before = await this.#checkPermissions(tx, row.permissions, grantor, true);
      if (!before.ok) return before;
      const permissions =
        input.permissions === undefined ? null : await this.#checkPermissions(tx, input.permissions, grantor);
      if (permissions !== null && !permissions.ok) return permissions;
      const now = this.#clock.now();
      const after = {
        name: input.name ?? row.name,
        permissions: permissions === null ? row.permissions : permissions.value,
      };
      const updated = await tx
        .updateTable('tenant_roles')
        .set({ name: after.name, permissions: JSON.stringify(after.permissions), updated_at: now })
        .where('id', '=', row.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'role.updated',
        tenantId: found.value.id,
        target: { type: 'role', id: row.id },
        before: { name: row.name, permissions: row.permissions },
        after,
        data: { key },
        occurredAt: now,
      });
      return ok(view(updated));
    });
  }

  /** Deletes a role no member and no open invitation holds (`role_in_use` otherwise). */
  async delete(
    ctx: RequestContext,
    tenantRef: string,
    key: string,
    grantor: Grantor,
  ): Promise<Result<RoleView, DomainError>> {
    return refusable(this.#db, async (tx) => {
      const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!found.ok) return found;
      const row = await tx
        .selectFrom('tenant_roles')
        .selectAll()
        .where('tenant_id', '=', found.value.id)
        .where('key', '=', key)
        .executeTakeFirst();
      if (!row) return roleNotFound(key, found.value.slug);
      const held = await this.#checkPermissions(tx, row.permissions, grantor, true);
      if (!held.ok) return held;
      const holders = await tx
        .selectFrom('memberships')
        .select('id')
        .where('tenant_id', '=', found.value.id)
        .where('role', '=', key)
        .limit(1)
        .execute();
      const invited = await tx
        .selectFrom('invitations')
        .select('id')
        .where('tenant_id', '=', found.value.id)
        .where('role', '=', key)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', this.#clock.now())
        .limit(1)
        .execute();
      if (holders.length > 0 || invited.length > 0) {
        return fail(
          'role_in_use',
          `members or open invitations of tenant "${found.value.slug}" hold the role "${key}"`,
        );
      }
      await tx.deleteFrom('tenant_roles').where('id', '=', row.id).execute();
      await recordChange(tx, ctx, {
        action: 'role.deleted',
        tenantId: found.value.id,
        target: { type: 'role', id: row.id },
        data: { key, permissions: row.permissions },
        occurredAt: this.#clock.now(),
      });
      return ok(view(row));
    });
  }

  /**
   * The permissions, deduplicated and sorted, if every one is known and the grantor holds it;
   * `held` for what a role holds already, checked only for the grantor.
   */
  async #checkPermissions(
    db: Kysely<Schema>,
    permissions: readonly string[],
    grantor: Grantor,
    held = false,
  ): Promise<Result<string[], DomainError>> {
    let unique = [...new Set(permissions)].sort();
    const unknown = unknownPermissions(unique, await this.#access.catalogue(db));
    // What a role holds already may name permissions the access file has dropped since: they
    // grant nothing any more, so they neither block nor count.
    if (held) unique = unique.filter((p) => !unknown.includes(p));
    else if (unknown.length > 0) {
      return fail('validation_failed', `unknown permissions: ${unknown.join(', ')}`, {
        errors: unknown.map((name) => ({
          path: `permissions.${permissions.indexOf(name)}`,
          message: `"${name}" is neither a tenant-admin permission nor one of the access file`,
        })),
      });
    }
    if (grantor !== null) {
      const missing = unique.filter((p) => !grantor.permissions.has(p));
      if (missing.length > 0) {
        return fail(
          'insufficient_permission',
          `you do not hold ${missing.join(', ')}, so you cannot grant it`,
          {
            details: { missing_permissions: missing },
          },
        );
      }
    }
    return ok(unique);
  }
}

function roleNotFound(key: string, slug: string) {
  return fail('role_not_found', `tenant "${slug}" has no custom role "${key}"`);
}
