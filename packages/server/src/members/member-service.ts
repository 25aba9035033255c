import { createHash, randomBytes } from 'node:crypto';
import {
  type AccessCatalogue,
  type CustomRole,
  type DomainError,
  fail,
  isBuiltInRole,
  ok,
  permissionsOf as permissionsOfRole,
  type Result,
} from '@tenantry/core';
import { DEFAULT_INVITATION_TTL_HOURS } from '@tenantry/core/api/requests';
import { type Kysely, sql, type Transaction } from 'kysely';
import type { AccessService } from '../access/index.ts';
import { recordChange, recordChanges } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { refusable } from './refusable.ts';
import { findTenant, memberSeatLimit, requireFeature, type TenantInfo } from './tenant-access.ts';
import { checkEmail, userByEmail } from './users.ts';

/** Bytes of randomness in an invitation token: 256 bits, far past guessing. */
const TOKEN_BYTES = 32;

/** A member of a tenant, as the API shows it. */
export interface MemberView {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string;
  name: string | null;
  role: string;
  /** Every permission the role holds now: tenant-admin and vendor permissions. */
  permissions: string[];
  created_at: string;
  updated_at: string;
}

/** An invitation, as the API shows it (never its token). */
export interface InvitationView {
  id: string;
  tenant_id: string;
  user_id: string;
  email: string;
  role: string;
  status: 'open' | 'accepted' | 'revoked' | 'expired';
  expires_at: string;
  accepted_at: string | null;
  created_at: string;
}

/** An open invitation as its link's page shows it, before it is accepted. */
export interface InvitationPreview {
  readonly invitationId: string;
  readonly tenantId: string;
  readonly tenantName: string;
  /** The invited user: only they may accept. */
  readonly userId: string;
  readonly email: string;
  readonly role: string;
  readonly expiresAt: Date;
}

/** A user's membership of one tenant, for the hosted sign-in's organisation switcher and tokens. */
export interface Membership {
  tenantId: string;
  tenantSlug: string;
  tenantName: string;
  tenantState: string;
  role: string;
  permissions: string[];
}

/**
 * Who grants a role or touches a member: a tenant's member acting with a user token can only grant
 * and touch what their own permissions cover (an admin cannot make someone owner, who holds
 * `billing:write`). Null for an operator key or a staff member, who act for the vendor.
 */
export type Grantor = { readonly permissions: ReadonlySet<string> } | null;

/**
 * Told of each invitation after it is stored, with the link to send: where the mailer hooks in.
 * It runs after the commit; a failure to send is the mailer's to retry, not the invitation's.
 */
export type InvitationListener = (
  invitation: InvitationView,
  invitationUrl: string,
  tenantName: string,
) => Promise<void>;

export interface MemberServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly access: AccessService;
  /** The control plane's public URL: invitation links point at its hosted sign-in pages. */
  readonly publicUrl: string;
  readonly onInvited?: InvitationListener | undefined;
}

/** The input of {@link MemberService.invite}. */
export interface InviteInput {
  readonly email: string;
  readonly role: string;
  readonly expiresInHours?: number | undefined;
}

function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/**
 * A tenant's members: invitations by single-use link, accepting them, roles (built in and the
 * tenant's own), removal, and what each user may do in each tenant, read live.
 */
export class MemberService {
  readonly #o: MemberServiceOptions;

  constructor(options: MemberServiceOptions) {
    this.#o = options;
  }

  /** Where an invitation token is accepted: the hosted sign-in's invitation page. */
  invitationUrl(token: string): string {
    return `${this.#o.publicUrl.replace(/\/+$/, '')}/sign-in/invitation?token=${token}`;
  }

  /**
   * Invites `email` to the tenant with `role`, making the user by email when there is none, and
   * returns the invitation with its link (the only place the token is ever seen); an open
   * invitation of the same person is withdrawn, so a new link replaces a lost one. Refuses an
   * unknown role, a role beyond the grantor's permissions, a user already a member, and a tenant
   * whose member seats are full.
   */
  async invite(
    ctx: RequestContext,
    tenantRef: string,
    input: InviteInput,
    grantor: Grantor,
  ): Promise<Result<{ invitation: InvitationView; invitation_url: string }, DomainError>> {
    const checked = checkEmail(input.email);
    if (!checked.ok) return checked;
    const email = checked.value;
    const ttl = input.expiresInHours ?? DEFAULT_INVITATION_TTL_HOURS;
    const token = randomBytes(TOKEN_BYTES).toString('base64url');
    const result = await refusable(this.#o.db, async (tx) => {
      const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!found.ok) return found;
      const tenant = found.value;
      const catalogue = await this.#o.access.catalogue(tx);
      const granted = await this.#grantable(tx, tenant, catalogue, input.role, grantor);
      if (!granted.ok) return granted;
      const now = this.#o.clock.now();
      const user = await userByEmail(tx, email, now);
      const userCreated = user.created;
      if (!userCreated) {
        const member = await tx
          .selectFrom('memberships')
          .select('id')
          .where('tenant_id', '=', tenant.id)
          .where('user_id', '=', user.id)
          .executeTakeFirst();
        if (member) return alreadyMember(email, tenant);
      }
      // Inviting someone again (a lost mail) sends a new link and withdraws the older ones, so that
      // one person never holds two seats nor two live links.
      const superseded = await tx
        .updateTable('invitations')
        .set({ revoked_at: now })
        .where('tenant_id', '=', tenant.id)
        .where('user_id', '=', user.id)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .returning(['id', 'role'])
        .execute();
      const seats = memberSeatLimit(tenant);
      if (seats !== null) {
        const used =
          (await this.#memberCount(tx, tenant.id)) + (await this.#openInvitations(tx, tenant.id, now));
        if (used >= seats) return seatsFull(tenant, seats, used);
      }
      const row = await tx
        .insertInto('invitations')
        .values({
          id: newId('ivt'),
          tenant_id: tenant.id,
          user_id: user.id,
          email,
          role: input.role,
          token_hash: hashToken(token),
          expires_at: new Date(now.getTime() + ttl * 3_600_000),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const view = invitationView(row, now);
      await recordChanges(
        tx,
        ctx,
        superseded.map((previous) => ({
          action: 'member.invitation_revoked' as const,
          tenantId: tenant.id,
          target: { type: 'invitation' as const, id: previous.id },
          data: { user_id: user.id, email, role: previous.role, superseded_by: row.id },
          occurredAt: now,
        })),
      );
      await recordChange(tx, ctx, {
        action: 'member.invited',
        tenantId: tenant.id,
        target: { type: 'invitation', id: row.id },
        event: {
          type: 'member.invited',
          data: {
            tenant_id: tenant.id,
            invitation_id: row.id,
            user_id: user.id,
            email,
            role: input.role,
            expires_at: view.expires_at,
          },
        },
        data: {
          user_id: user.id,
          email,
          role: input.role,
          expires_at: view.expires_at,
          user_created: userCreated,
        },
        occurredAt: now,
      });
      return ok({ view, tenantName: tenant.name });
    });
    if (!result.ok) return result;
    const url = this.invitationUrl(token);
    await this.#o.onInvited?.(result.value.view, url, result.value.tenantName);
    return ok({ invitation: result.value.view, invitation_url: url });
  }

  /**
   * What the invitation `token` is for, without spending it: the hosted invitation page shows it
   * before the invited user accepts. Refused as acceptance would be (not found, used, revoked,
   * expired), and an invitation to a deleted tenant is not found; a refusal names no tenant, so a
   * spent or withdrawn link tells its holder nothing about who sent it.
   */
  async invitationByToken(token: string): Promise<Result<InvitationPreview, DomainError>> {
    const row = await this.#o.db
      .selectFrom('invitations as i')
      .innerJoin('tenants as t', 't.id', 'i.tenant_id')
      .select([
        'i.id',
        'i.user_id',
        'i.email',
        'i.role',
        'i.expires_at',
        'i.accepted_at',
        'i.revoked_at',
        't.id as tenant_id',
        't.name as tenant_name',
        't.state as tenant_state',
      ])
      .where('i.token_hash', '=', hashToken(token))
      .executeTakeFirst();
    if (!row || row.tenant_state === 'deleted') {
      return fail('invitation_not_found', 'no invitation has this token');
    }
    if (row.accepted_at !== null) {
      return fail('invitation_used', 'this invitation was already accepted; an invitation is single use');
    }
    if (row.revoked_at !== null) return invitationRevoked(row.revoked_at);
    if (row.expires_at <= this.#o.clock.now()) {
      return fail('invitation_expired', `this invitation expired at ${row.expires_at.toISOString()}`);
    }
    return ok({
      invitationId: row.id,
      tenantId: row.tenant_id,
      tenantName: row.tenant_name,
      userId: row.user_id,
      email: row.email,
      role: row.role,
      expiresAt: row.expires_at,
    });
  }

  /**
   * Makes `userId` a member by the invitation `token`: single use (a second use is
   * `invitation_used`), refused once expired (`invitation_expired`), for the invited user only
   * (`invitation_mismatch`), and within the tenant's member seats. Accepting proves the user's
   * email address, so it is marked verified. The hosted sign-in calls this from its pages.
   */
  async acceptInvitation(
    ctx: RequestContext,
    token: string,
    userId: string,
  ): Promise<Result<MemberView, DomainError>> {
    return refusable(this.#o.db, async (tx) => {
      const invitation = await tx
        .selectFrom('invitations')
        .selectAll()
        .where('token_hash', '=', hashToken(token))
        .executeTakeFirst();
      if (!invitation) return fail('invitation_not_found', 'no invitation has this token');
      // The tenant first, then the invitation: every member change locks in that order.
      const found = await findTenant(tx, invitation.tenant_id, { lock: true, writable: true });
      if (!found.ok) return found;
      const tenant = found.value;
      const locked = await tx
        .selectFrom('invitations')
        .selectAll()
        .where('id', '=', invitation.id)
        .forUpdate()
        .executeTakeFirstOrThrow();
      const now = this.#o.clock.now();
      if (locked.accepted_at !== null) {
        return fail('invitation_used', 'this invitation was already accepted; an invitation is single use');
      }
      if (locked.revoked_at !== null) return invitationRevoked(locked.revoked_at);
      if (locked.expires_at <= now) {
        return fail('invitation_expired', `this invitation expired at ${locked.expires_at.toISOString()}`);
      }
      const user = await tx
        .selectFrom('users')
        .select(['id', 'email'])
        .where('id', '=', userId)
        .executeTakeFirst();
      if (!user) return fail('user_not_found', `no user has the id "${userId}"`);
      if (user.id !== locked.user_id) {
        return fail('invitation_mismatch', 'this invitation was sent to another email address');
      }
      const existing = await tx
        .selectFrom('memberships')
        .select('id')
        .where('tenant_id', '=', tenant.id)
        .where('user_id', '=', user.id)
        .executeTakeFirst();
      if (existing) return alreadyMember(user.email, tenant);
      const seats = memberSeatLimit(tenant);
      if (seats !== null) {
        const used = await this.#memberCount(tx, tenant.id);
        if (used >= seats) return seatsFull(tenant, seats, used);
      }
      const catalogue = await this.#o.access.catalogue(tx);
      const customRoles = await this.#customRoles(tx, tenant.id);
      // The role may have been deleted since the invitation; refuse rather than join roleless.
      const permissions = permissionsOfRole(locked.role, catalogue, customRoles);
      if (!permissions.ok) return permissions;
      const member = await tx
        .insertInto('memberships')
        .values({
          id: newId('mem'),
          tenant_id: tenant.id,
          user_id: user.id,
          role: locked.role,
          updated_at: now,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await tx
        .updateTable('invitations')
        .set({ accepted_at: now, accepted_by: user.id })
        .where('id', '=', locked.id)
        .execute();
      await tx
        .updateTable('users')
        .set({ email_verified_at: now, updated_at: now })
        .where('id', '=', user.id)
        .where('email_verified_at', 'is', null)
        .execute();
      await recordChange(tx, ctx, {
        action: 'member.joined',
        tenantId: tenant.id,
        target: { type: 'member', id: member.id },
        data: {
          tenant_id: tenant.id,
          member_id: member.id,
          user_id: user.id,
          role: locked.role,
          invitation_id: locked.id,
        },
        occurredAt: now,
      });
      return ok(memberView({ ...member, email: user.email, name: null }, permissions.value));
    });
  }

  /** The tenant's members, oldest first, each with the permissions of their role now. */
  async list(tenantRef: string): Promise<Result<MemberView[], DomainError>> {
    const found = await findTenant(this.#o.db, tenantRef);
    if (!found.ok) return found;
    const rows = await this.#members(this.#o.db).where('m.tenant_id', '=', found.value.id).execute();
    const catalogue = await this.#o.access.catalogue();
    const customRoles = await this.#customRoles(this.#o.db, found.value.id);
    return ok(rows.map((row) => memberView(row, rolePermissions(row.role, catalogue, customRoles))));
  }

  /** The tenant's invitations, newest first, with whether each is open, accepted or expired. */
  async invitations(tenantRef: string): Promise<Result<InvitationView[], DomainError>> {
    const found = await findTenant(this.#o.db, tenantRef);
    if (!found.ok) return found;
    const rows = await this.#o.db
      .selectFrom('invitations')
      .selectAll()
      .where('tenant_id', '=', found.value.id)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(500)
      .execute();
    const now = this.#o.clock.now();
    return ok(rows.map((row) => invitationView(row, now)));
  }

  /**
   * Withdraws an open invitation: its link stops working and it holds no seat. Refused for one
   * already accepted or revoked, and when the invited role holds permissions the grantor lacks.
   */
  async revokeInvitation(
    ctx: RequestContext,
    tenantRef: string,
    invitationId: string,
    grantor: Grantor,
  ): Promise<Result<InvitationView, DomainError>> {
    return refusable(this.#o.db, async (tx) => {
      const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
      if (!found.ok) return found;
      const tenant = found.value;
      const invitation = await tx
        .selectFrom('invitations')
        .selectAll()
        .where('tenant_id', '=', tenant.id)
        .where('id', '=', invitationId)
        .forUpdate()
        .executeTakeFirst();
      if (!invitation) {
        return fail('invitation_not_found', `tenant "${tenant.slug}" has no invitation "${invitationId}"`);
      }
      if (invitation.accepted_at !== null) {
        return fail('invitation_used', 'this invitation was already accepted; remove the member instead');
      }
      if (invitation.revoked_at !== null) return invitationRevoked(invitation.revoked_at);
      const catalogue = await this.#o.access.catalogue(tx);
      const touch = await this.#grantable(tx, tenant, catalogue, invitation.role, grantor, true);
      // A custom role deleted since cannot be held by anyone: nothing to guard.
      if (!touch.ok && touch.error.code !== 'role_not_found') return touch;
      const now = this.#o.clock.now();
      const revoked = await tx
        .updateTable('invitations')
        .set({ revoked_at: now })
        .where('id', '=', invitation.id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'member.invitation_revoked',
        tenantId: tenant.id,
        target: { type: 'invitation', id: invitation.id },
        data: { user_id: invitation.user_id, email: invitation.email, role: invitation.role },
        occurredAt: now,
      });
      return ok(invitationView(revoked, now));
    });
  }

  /**
   * Gives a member another role. Refused unless the grantor's permissions cover both the member's
   * role and the new one, and when it would leave the tenant without an owner.
   */
  async changeRole(
    ctx: RequestContext,
    tenantRef: string,
    memberRef: string,
    role: string,
    grantor: Grantor,
  ): Promise<Result<MemberView, DomainError>> {
    return refusable(this.#o.db, async (tx) => {
      const touched = await this.#touchable(tx, tenantRef, memberRef, grantor);
      if (!touched.ok) return touched;
      const { tenant, member, catalogue } = touched.value;
      const granted = await this.#grantable(tx, tenant, catalogue, role, grantor);
      if (!granted.ok) return granted;
      if (member.role === 'owner' && role !== 'owner') {
        const owners = await this.#ownerCount(tx, tenant.id);
        if (owners <= 1) return lastOwner(tenant);
      }
      const now = this.#o.clock.now();
      if (member.role !== role) {
        await tx
          .updateTable('memberships')
          .set({ role, updated_at: now })
          .where('id', '=', member.id)
          .execute();
        await recordChange(tx, ctx, {
          action: 'member.role_changed',
          tenantId: tenant.id,
          target: { type: 'member', id: member.id },
          before: { role: member.role },
          after: { role },
          data: {
            tenant_id: tenant.id,
            member_id: member.id,
            user_id: member.user_id,
            from: member.role,
            to: role,
          },
          occurredAt: now,
        });
      }
      return ok(memberView({ ...member, role, updated_at: now }, granted.value));
    });
  }

  /**
   * Removes a member, and answers with who it was. Their user tokens for the tenant stop working
   * at once: every member route checks the membership live. Refused for the last owner and beyond
   * the grantor's permissions.
   */
  async remove(
    ctx: RequestContext,
    tenantRef: string,
    memberRef: string,
    grantor: Grantor,
  ): Promise<Result<MemberView, DomainError>> {
    return refusable(this.#o.db, async (tx) => {
      const touched = await this.#touchable(tx, tenantRef, memberRef, grantor);
      if (!touched.ok) return touched;
      const { tenant, member, permissions } = touched.value;
      if (member.role === 'owner' && (await this.#ownerCount(tx, tenant.id)) <= 1) return lastOwner(tenant);
      await tx.deleteFrom('memberships').where('id', '=', member.id).execute();
      await tx
        .insertInto('member_removals')
        // The database's own time, as tokens' `iat` is wall-clock time (a test clock's tenant too).
        .values({ tenant_id: tenant.id, user_id: member.user_id, removed_at: sql<Date>`now()` })
        .onConflict((oc) =>
          oc
            .columns(['tenant_id', 'user_id'])
            .doUpdateSet({ removed_at: (eb) => eb.ref('excluded.removed_at') }),
        )
        .execute();
      await recordChange(tx, ctx, {
        action: 'member.removed',
        tenantId: tenant.id,
        target: { type: 'member', id: member.id },
        data: {
          tenant_id: tenant.id,
          member_id: member.id,
          user_id: member.user_id,
          role: member.role,
        },
        occurredAt: this.#o.clock.now(),
      });
      return ok(memberView(member, permissions));
    });
  }

  /**
   * Every tenant `userId` is a member of (deleted tenants left out), with the role and the
   * permissions it holds in each now: for the organisation switcher and the tokens it mints.
   */
  async membershipsOf(userId: string): Promise<Membership[]> {
    const rows = await this.#o.db
      .selectFrom('memberships as m')
      .innerJoin('tenants as t', 't.id', 'm.tenant_id')
      .select(['m.role', 't.id', 't.slug', 't.name', 't.state'])
      .where('m.user_id', '=', userId)
      .where('t.state', '<>', 'deleted')
      .orderBy('t.slug')
      .execute();
    if (rows.length === 0) return [];
    const catalogue = await this.#o.access.catalogue();
    const custom = await this.#o.db
      .selectFrom('tenant_roles')
      .select(['tenant_id', 'key', 'permissions'])
      .where(
        'tenant_id',
        'in',
        rows.map((r) => r.id),
      )
      .execute();
    return rows.map((row) => ({
      tenantId: row.id,
      tenantSlug: row.slug,
      tenantName: row.name,
      tenantState: row.state,
      role: row.role,
      permissions: rolePermissions(
        row.role,
        catalogue,
        custom.filter((c) => c.tenant_id === row.id),
      ),
    }));
  }

  /**
   * The permissions of `role` in the tenant, if the grantor may grant it (or, with `touching`,
   * act on a member who holds it): every permission of the role must be one of the grantor's.
   * An unknown role is `role_not_found`; a custom role needs the plan's `custom_roles` feature.
   */
  async #grantable(
    tx: Transaction<Schema>,
    tenant: TenantInfo,
    catalogue: AccessCatalogue,
    role: string,
    grantor: Grantor,
    touching = false,
  ): Promise<Result<string[], DomainError>> {
    const customRoles = await this.#customRoles(tx, tenant.id);
    const permissions = permissionsOfRole(role, catalogue, customRoles);
    if (!permissions.ok) {
      return fail('role_not_found', permissions.error.detail, {
        errors: [
          { path: 'role', message: `"${role}" is neither a built-in role nor one of the tenant's roles` },
        ],
      });
    }
    if (!touching && !isBuiltInRole(role)) {
      const feature = requireFeature(tenant, 'custom_roles', 'Giving a custom role');
      if (!feature.ok) return feature;
    }
    if (grantor !== null) {
      const missing = permissions.value.filter((p) => !grantor.permissions.has(p));
      if (missing.length > 0) {
        return fail(
          'insufficient_permission',
          touching
            ? `the member's role "${role}" holds permissions you do not hold: ${missing.join(', ')}`
            : `the role "${role}" holds permissions you do not hold: ${missing.join(', ')}`,
          { details: { missing_permissions: missing } },
        );
      }
    }
    return ok(permissions.value);
  }

  /**
   * The writable tenant (locked), the member (locked) and the catalogue, once the grantor is shown
   * to hold every permission of the member's role: what changing and removing a member both need
   * before they act. `permissions` are those of the member's current role.
   */
  async #touchable(tx: Transaction<Schema>, tenantRef: string, memberRef: string, grantor: Grantor) {
    const found = await findTenant(tx, tenantRef, { lock: true, writable: true });
    if (!found.ok) return found;
    const tenant = found.value;
    const member = await this.#member(tx, tenant, memberRef);
    if (!member.ok) return member;
    const catalogue = await this.#o.access.catalogue(tx);
    const touch = await this.#grantable(tx, tenant, catalogue, member.value.role, grantor, true);
    if (!touch.ok) return touch;
    return ok({ tenant, member: member.value, catalogue, permissions: touch.value });
  }

  async #customRoles(db: Kysely<Schema>, tenantId: string): Promise<CustomRole[]> {
    return db
      .selectFrom('tenant_roles')
      .select(['key', 'permissions'])
      .where('tenant_id', '=', tenantId)
      .execute();
  }

  async #member(tx: Transaction<Schema>, tenant: TenantInfo, ref: string) {
    const row = await this.#members(tx)
      .where('m.tenant_id', '=', tenant.id)
      .where((eb) => eb.or([eb('m.id', '=', ref), eb('m.user_id', '=', ref)]))
      .forUpdate('m')
      .executeTakeFirst();
    if (!row) return fail('member_not_found', `tenant "${tenant.slug}" has no member "${ref}"`);
    return ok(row);
  }

  #members(db: Kysely<Schema>) {
    return db
      .selectFrom('memberships as m')
      .innerJoin('users as u', 'u.id', 'm.user_id')
      .select([
        'm.id',
        'm.tenant_id',
        'm.user_id',
        'm.role',
        'm.created_at',
        'm.updated_at',
        'u.email',
        'u.name',
      ])
      .orderBy('m.created_at')
      .orderBy('m.id');
  }

  async #memberCount(tx: Transaction<Schema>, tenantId: string): Promise<number> {
    const row = await tx
      .selectFrom('memberships')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tenant_id', '=', tenantId)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async #openInvitations(tx: Transaction<Schema>, tenantId: string, now: Date): Promise<number> {
    const row = await tx
      .selectFrom('invitations')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .where('tenant_id', '=', tenantId)
      .where('accepted_at', 'is', null)
      .where('revoked_at', 'is', null)
      .where('expires_at', '>', now)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async #ownerCount(tx: Transaction<Schema>, tenantId: string): Promise<number> {
    const row = await tx
      .selectFrom('memberships')
      .select(sql<string>`count(*)`.as('n'))
      .where('tenant_id', '=', tenantId)
      .where('role', '=', 'owner')
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }
}

/** The permissions of a member's role; a role that no longer exists holds none. */
function rolePermissions(
  role: string,
  catalogue: AccessCatalogue,
  customRoles: readonly CustomRole[],
): string[] {
  const permissions = permissionsOfRole(role, catalogue, customRoles);
  return permissions.ok ? permissions.value : [];
}

function invitationRevoked(at: Date) {
  return fail('invitation_revoked', `this invitation was revoked at ${at.toISOString()}`);
}

function alreadyMember(email: string, tenant: TenantInfo) {
  return fail('already_member', `${email} is already a member of tenant "${tenant.slug}"`);
}

function seatsFull(tenant: TenantInfo, limit: number, used: number) {
  return fail(
    'seat_limit_reached',
    `tenant "${tenant.slug}" has ${used} of the ${limit} seats its plan "${tenant.plan.key}" allows (members and open invitations)`,
    { details: { limit, used } },
  );
}

function lastOwner(tenant: TenantInfo) {
  return fail(
    'last_owner',
    `this would leave tenant "${tenant.slug}" without an owner; make another member owner first`,
  );
}

function memberView(
  row: {
    id: string;
    tenant_id: string;
    user_id: string;
    role: string;
    email: string;
    name: string | null;
    created_at: Date;
    updated_at: Date;
  },
  permissions: string[],
): MemberView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    user_id: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role,
    permissions,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

function invitationView(
  row: {
    id: string;
    tenant_id: string;
    user_id: string;
    email: string;
    role: string;
    expires_at: Date;
    accepted_at: Date | null;
    revoked_at: Date | null;
    created_at: Date;
  },
  now: Date,
): InvitationView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    user_id: row.user_id,
    email: row.email,
    role: row.role,
    status:
      row.accepted_at !== null
        ? 'accepted'
        : row.revoked_at !== null
          ? 'revoked'
          : row.expires_at <= now
            ? 'expired'
            : 'open',
    expires_at: row.expires_at.toISOString(),
    accepted_at: row.accepted_at?.toISOString() ?? null,
    created_at: row.created_at.toISOString(),
  };
}
