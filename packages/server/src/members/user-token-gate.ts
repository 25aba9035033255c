import {
  applyOverrides,
  type DomainError,
  EMPTY_ACCESS_CATALOGUE,
  entitlesUse,
  fail,
  ipAllowed,
  ok,
  type PlanDefinition,
  permissionsOf,
  type Result,
  type TenantOverrides,
  type TenantState,
} from '@tenantry/core';
import { createLocalJWKSet, errors as joseErrors, jwtVerify } from 'jose';
import type { Kysely } from 'kysely';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { AuthenticatedUser, UserTokenGate, UserTokenRoute } from '../http/index.ts';
import type { SigningKeyService } from '../tokens/index.ts';
import { allowListInForce } from './access-policy-service.ts';
import type { StaffService } from './staff-service.ts';

/**
 * How long the verifying keys are held: a retired key leaves the published set an hour after its
 * retirement, and every token it signed has expired by then (tokens live 15 minutes), so a set
 * a few minutes old refuses nothing it should admit; a new key is looked up when first seen.
 */
const KEY_SET_MAX_AGE_MS = 5 * 60_000;

export interface UserTokensOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly signingKeys: SigningKeyService;
  /** The `iss` tokens must carry: the control plane's public URL. */
  readonly issuer: string;
  readonly staff: StaffService;
}

const EMPTY: ReadonlySet<never> = new Set();

function invalid(reason: string, detail: string) {
  return fail('invalid_access_token', detail, { details: { reason } });
}

/**
 * Admits user access tokens to `/v1` routes. A token must be an ES256 JWT of type `at+jwt`, for
 * the audience `tenantry`, signed by a key the control plane publishes, not expired. What it may
 * do is then read live, never from its claims: a tenant's member reaches only routes that declare
 * a permission, only for the tenant the token names, only while still a member whose role holds
 * the permission, while the tenant may act and from an address its IP allow-list allows (the
 * list that guards sign-in guards what a signed-in member does too); a staff token (`staff: true`, no `tid`) holds the
 * scopes of its operator role for as long as the user is staff.
 */
export class UserTokens implements UserTokenGate {
  readonly #o: UserTokensOptions;

  constructor(options: UserTokensOptions) {
    this.#o = options;
  }

  /** The signing keys' public set, read at most every {@link KEY_SET_MAX_AGE_MS}, not per request. */
  #keys: { readonly set: ReturnType<typeof createLocalJWKSet>; readonly at: number } | undefined;

  /** The public keys tokens are verified with; `fresh`: read them from the database again. */
  async #keySet(fresh: boolean): Promise<ReturnType<typeof createLocalJWKSet>> {
    const held = this.#keys;
    if (!fresh && held !== undefined && performance.now() - held.at < KEY_SET_MAX_AGE_MS) return held.set;
    const set = createLocalJWKSet(await this.#o.signingKeys.jwks());
    this.#keys = { set, at: performance.now() };
    return set;
  }

  async admit(token: string, route: UserTokenRoute): Promise<Result<AuthenticatedUser, DomainError>> {
    const verified = await this.#verify(token);
    if (!verified.ok) return verified;
    const claims = verified.value;
    if (claims.staff === true && claims.tid === undefined) return this.#admitStaff(claims.sub, route);
    if (typeof claims.tid !== 'string')
      return invalid('claims', 'the token names no tenant (tid) and is no staff token');
    return this.#admitMember(claims.sub, claims.tid, route);
  }

  async #verify(
    token: string,
  ): Promise<Result<{ sub: string; tid?: unknown; staff?: unknown }, DomainError>> {
    const verify = async (fresh: boolean) =>
      jwtVerify(token, await this.#keySet(fresh), {
        algorithms: ['ES256'],
        audience: 'tenantry',
        issuer: this.#o.issuer,
        typ: 'at+jwt',
        currentDate: this.#o.clock.now(),
        requiredClaims: ['sub', 'exp', 'iat'],
      });
    try {
      // A key made since the set was read (a rotation, in any process) is looked up once more.
      const { payload } = await verify(false).catch((error: unknown) => {
        if (error instanceof joseErrors.JWKSNoMatchingKey) return verify(true);
        throw error;
      });
      if (typeof payload.sub !== 'string' || !payload.sub.startsWith('usr_')) {
        return invalid('claims', 'the token is not for a user (sub must be usr_…)');
      }
      return ok({ ...payload, sub: payload.sub });
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) return invalid('expired', 'the access token has expired');
      if (error instanceof joseErrors.JOSEError) {
        return invalid(error.code, 'the access token is not one this control plane signed for users');
      }
      throw error;
    }
  }

  async #admitStaff(userId: string, route: UserTokenRoute): Promise<Result<AuthenticatedUser, DomainError>> {
    const scopes = await this.#o.staff.staffScopesOf(userId);
    if (scopes === null) return invalid('not_staff', 'the user is not staff (any more)');
    if (route.scope !== undefined && route.scope !== 'public' && !scopes.has(route.scope)) {
      return fail(
        'insufficient_scope',
        `this route needs the scope ${route.scope}, which the user's operator role lacks`,
        {
          details: { required_scope: route.scope },
        },
      );
    }
    return ok({ userId, tenantId: null, permissions: EMPTY, scopes });
  }

  async #admitMember(
    userId: string,
    tenantId: string,
    route: UserTokenRoute,
  ): Promise<Result<AuthenticatedUser, DomainError>> {
    if (route.permission === undefined) {
      return fail(
        'insufficient_permission',
        "this route takes API keys and staff tokens, not a tenant member's token",
      );
    }
    const tenant = await this.#admission(tenantId, userId);
    const sameTenant =
      tenant !== undefined &&
      route.tenant !== undefined &&
      (route.tenant === tenant.id || (route.tenant === tenant.slug && tenant.state !== 'deleted'));
    if (!sameTenant) {
      return fail(
        'insufficient_permission',
        "the token is for another tenant than the one in this route's path",
        {
          details: { required_permission: route.permission },
        },
      );
    }
    if (tenant.role === null)
      return invalid('not_a_member', 'the user is not a member of the tenant (any more)');
    // What a tenant's admins may do before it is active, as the route declares (onboarding: a BYOI
    // tenant's connection to its own database, which its provisioning waits for).
    const onboarding =
      route.duringProvisioning && (tenant.state === 'provisioning' || tenant.state === 'provisioning_failed');
    if (!entitlesUse(tenant.state as TenantState) && !onboarding) {
      return fail('tenant_inactive', `tenant "${tenant.slug}" is ${tenant.state}; its members may not act`, {
        details: { state: tenant.state },
      });
    }
    // A custom role's row is joined only when the member holds it; an unknown role holds nothing.
    const customRoles =
      tenant.role_permissions === null ? [] : [{ key: tenant.role, permissions: tenant.role_permissions }];
    const held = permissionsOf(tenant.role, tenant.catalogue ?? EMPTY_ACCESS_CATALOGUE, customRoles);
    const permissions = held.ok ? held.value : [];
    if (!permissions.includes(route.permission)) {
      return fail(
        'insufficient_permission',
        `this route needs the permission ${route.permission}, which your role lacks`,
        {
          details: { required_permission: route.permission },
        },
      );
    }
    // The plan (after overrides) matters only to a tenant that stored an allow-list.
    const allowList =
      tenant.ip_allow_list === null || tenant.ip_allow_list.length === 0
        ? []
        : allowListInForce(
            applyOverrides(tenant.definition as PlanDefinition, (tenant.overrides ?? {}) as TenantOverrides),
            tenant.ip_allow_list,
          );
    if (!ipAllowed(route.ip, allowList)) {
      return fail('ip_not_allowed', `tenant "${tenant.slug}" does not allow calls from ${route.ip}`, {
        details: { ip: route.ip },
      });
    }
    return ok({ userId, tenantId: tenant.id, permissions: new Set(permissions), scopes: EMPTY });
  }

  /**
   * Everything admitting a member's token reads, in one query (this runs on every request a
   * member's token makes): the tenant and its plan, the user's role in it, that role's row if it
   * is a custom one, the tenant's stored access policy and the access catalogue in force.
   */
  #admission(tenantId: string, userId: string) {
    return this.#o.db
      .selectFrom('tenants as t')
      .innerJoin('plan_versions as v', (join) =>
        join.onRef('v.plan_id', '=', 't.plan_id').onRef('v.version', '=', 't.plan_version'),
      )
      .leftJoin('memberships as m', (join) =>
        join.onRef('m.tenant_id', '=', 't.id').on('m.user_id', '=', userId),
      )
      .leftJoin('tenant_roles as r', (join) =>
        join.onRef('r.tenant_id', '=', 't.id').onRef('r.key', '=', 'm.role'),
      )
      .leftJoin('tenant_access_policies as p', 'p.tenant_id', 't.id')
      .select((eb) => [
        't.id',
        't.slug',
        't.state',
        't.overrides',
        'v.definition',
        'm.role',
        'r.permissions as role_permissions',
        'p.ip_allow_list',
        eb
          .selectFrom('access_catalogues')
          .select('catalogue')
          .orderBy('version', 'desc')
          .limit(1)
          .as('catalogue'),
      ])
      .where('t.id', '=', tenantId)
      .executeTakeFirst();
  }
}
