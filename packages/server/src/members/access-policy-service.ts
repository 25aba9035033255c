import {
  type DomainError,
  type FieldError,
  fail,
  ok,
  type PlanDefinition,
  parseCidr,
  type Result,
} from '@tenantry/core';
import type { Kysely } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { refusable } from './refusable.ts';
import { findTenant, requireFeature, type TenantInfo } from './tenant-access.ts';

/** The plan feature that lets a tenant restrict sign-in and its API keys to address blocks. */
export const IP_ALLOW_LIST_FEATURE = 'ip_allow_list';

/** The most blocks an allow-list may hold. */
export const MAX_ALLOW_LIST_ENTRIES = 100;

/** A tenant's access policy, as the API shows it and other features read it. */
export interface AccessPolicy {
  /** Whether every member must sign in with a second factor. */
  mfa_required: boolean;
  /** CIDR blocks sign-in and the tenant's API keys are allowed from; empty: any address. */
  ip_allow_list: string[];
}

/** {@link AccessPolicy} with its tenant and last change. */
export interface AccessPolicyView extends AccessPolicy {
  tenant_id: string;
  updated_at: string | null;
}

const DEFAULT_POLICY: AccessPolicy = { mfa_required: false, ip_allow_list: [] };

/**
 * Each tenant's access policy: whether MFA is required, and the IP allow-list (on plans with the
 * `ip_allow_list` feature). The hosted sign-in and the tenant API keys read it through
 * {@link AccessPolicyService.accessPolicyOf}.
 */
export class AccessPolicyService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * The policy in force for a tenant (by id). The allow-list counts only while the tenant's plan
   * enables the feature: a tenant moved to a plan without it is not locked out by a list it can
   * no longer change.
   */
  async accessPolicyOf(tenantId: string): Promise<AccessPolicy> {
    const tenant = await findTenant(this.#db, tenantId);
    if (!tenant.ok) return { ...DEFAULT_POLICY };
    return inForce(tenant.value, await this.#row(tenant.value.id));
  }

  async get(tenantRef: string): Promise<Result<AccessPolicyView, DomainError>> {
    const tenant = await findTenant(this.#db, tenantRef);
    if (!tenant.ok) return tenant;
    const row = await this.#row(tenant.value.id);
    return ok({
      tenant_id: tenant.value.id,
      ...inForce(tenant.value, row),
      updated_at: row?.updated_at.toISOString() ?? null,
    });
  }

  /**
   * Replaces the tenant's policy. Every allow-list entry that is not a CIDR block (or address) is
   * named in the refusal; a non-empty list on a plan without the feature is `feature_disabled`.
   */
  async set(
    ctx: RequestContext,
    tenantRef: string,
    input: AccessPolicy,
  ): Promise<Result<AccessPolicyView, DomainError>> {
    const list = input.ip_allow_list.map((entry) => entry.trim());
    const errors: FieldError[] = [];
    list.forEach((entry, index) => {
      if (parseCidr(entry) === undefined) {
        errors.push({
          path: `ip_allow_list.${index}`,
          message: `${JSON.stringify(entry)} is not a CIDR block (like 203.0.113.0/24 or 2001:db8::/32) with no bits set past its prefix`,
        });
      }
    });
    if (list.length > MAX_ALLOW_LIST_ENTRIES) {
      errors.push({ path: 'ip_allow_list', message: `must have at most ${MAX_ALLOW_LIST_ENTRIES} entries` });
    }
    if (errors.length > 0) {
      return fail('validation_failed', `invalid fields: ${errors.map((e) => e.path).join(', ')}`, { errors });
    }
    const unique = [...new Set(list)];
    return refusable(this.#db, async (tx) => {
      const tenant = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!tenant.ok) return tenant;
      if (unique.length > 0) {
        const feature = requireFeature(tenant.value, IP_ALLOW_LIST_FEATURE, 'An IP allow-list');
        if (!feature.ok) return feature;
      }
      const before = await tx
        .selectFrom('tenant_access_policies')
        .selectAll()
        .where('tenant_id', '=', tenant.value.id)
        .executeTakeFirst();
      const now = this.#clock.now();
      const after = { mfa_required: input.mfa_required, ip_allow_list: unique };
      const was = before
        ? { mfa_required: before.mfa_required, ip_allow_list: before.ip_allow_list }
        : DEFAULT_POLICY;
      if (JSON.stringify(was) !== JSON.stringify(after)) {
        await tx
          .insertInto('tenant_access_policies')
          .values({
            tenant_id: tenant.value.id,
            mfa_required: after.mfa_required,
            ip_allow_list: JSON.stringify(unique),
            updated_at: now,
          })
          .onConflict((oc) =>
            oc.column('tenant_id').doUpdateSet({
              mfa_required: after.mfa_required,
              ip_allow_list: JSON.stringify(unique),
              updated_at: now,
            }),
          )
          .execute();
        await recordChange(tx, ctx, {
          action: 'access_policy.updated',
          tenantId: tenant.value.id,
          target: { type: 'access_policy', id: tenant.value.id },
          before: { ...was },
          after,
          data: { tenant_id: tenant.value.id, ...after },
          occurredAt: now,
        });
      }
      const row = await tx
        .selectFrom('tenant_access_policies')
        .select('updated_at')
        .where('tenant_id', '=', tenant.value.id)
        .executeTakeFirst();
      return ok({ tenant_id: tenant.value.id, ...after, updated_at: row?.updated_at.toISOString() ?? null });
    });
  }

  async #row(tenantId: string) {
    return this.#db
      .selectFrom('tenant_access_policies')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
  }
}

/** The policy a tenant's stored row (if any) puts in force under its plan. */
function inForce(
  tenant: TenantInfo,
  row: { mfa_required: boolean; ip_allow_list: readonly string[] } | undefined,
): AccessPolicy {
  if (!row) return { ...DEFAULT_POLICY };
  return { mfa_required: row.mfa_required, ip_allow_list: allowListInForce(tenant.plan, row.ip_allow_list) };
}

/**
 * The allow-list a tenant's stored one puts in force under its plan (after overrides): none while
 * the plan does not enable the feature, so that a tenant moved to a plan without it is not locked
 * out by a list it can no longer change.
 */
export function allowListInForce(plan: PlanDefinition, stored: readonly string[] | undefined): string[] {
  return stored !== undefined && plan.features[IP_ALLOW_LIST_FEATURE] === true ? [...stored] : [];
}
