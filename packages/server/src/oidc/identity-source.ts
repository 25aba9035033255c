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

/** A tenant's sign-in policy, as members' `accessPolicyOf` answers. */
export interface AccessPolicy {
  readonly mfa_required: boolean;
  /** CIDR blocks sign-in is allowed from; empty: from anywhere. */
  readonly ip_allow_list: readonly string[];
}
