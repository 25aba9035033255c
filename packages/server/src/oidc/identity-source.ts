import type { FastifyRequest } from 'fastify';

/**
 * What the OpenID provider signs users in on, and whom it lets into which tenant. The accounts
 * feature (hosted sign-in: `SessionService.current`) and the members feature (`membershipsOf`,
 * `accessPolicyOf`) provide it; the provider reads their answers live on every interaction and
 * every token request, so a removed member or a suspended tenant is refused at once.
 */
export interface IdentitySource {
  /** The Tenantry session the browser's cookie names, or undefined when there is none. */
  currentSession(request: FastifyRequest): Promise<SignedInSession | undefined>;
  /** Every tenant `userId` is a member of, with the role and permissions there. */
  membershipsOf(userId: string): Promise<readonly Membership[]>;
  /** The tenant's sign-in policy. */
  accessPolicyOf(tenantId: string): Promise<AccessPolicy>;
  /** The operator role (`admin`, `support`, `finance`) `userId` holds as the vendor's staff; undefined when not staff. */
  staffRoleOf(userId: string): Promise<string | undefined>;
}

/** A signed-in browser, as accounts' `SessionService.current` answers. */
export interface SignedInSession {
  readonly sessionId: string;
  readonly userId: string;
  readonly email: string;
  /** When the session passed its MFA challenge; null when it has not. */
  readonly mfaVerifiedAt: Date | null;
  readonly createdAt: Date;
}

/** A user's membership of one tenant, as members' `membershipsOf` answers. */
export interface Membership {
  readonly tenantId: string;
  readonly tenantSlug: string;
  readonly tenantName: string;
  readonly tenantState: string;
  readonly role: string;
  readonly permissions: readonly string[];
}

/**
 * The organisation a sign-in is for: a tenant, through the user's membership of it, or the
 * vendor's operator organisation, through the user's staff role.
 */
export type Organization =
  | { readonly kind: 'tenant'; readonly membership: Membership }
  | { readonly kind: 'operator'; readonly role: string };

/**
 * How the operator organisation is named: in the `organization` parameter, in the picker's form
 * and in a grant's record. Tenant ids are `ten_…`; a tenant whose slug is `operator` is named by id.
 */
export const OPERATOR_ORGANIZATION = 'operator';

/** A tenant's sign-in policy, as members' `accessPolicyOf` answers. */
export interface AccessPolicy {
  readonly mfa_required: boolean;
  /** CIDR blocks sign-in is allowed from; empty: from anywhere. */
  readonly ip_allow_list: readonly string[];
}
