import {
  type DomainError,
  fail,
  OPERATOR_ROLE_SCOPES,
  type OperatorRole,
  ok,
  type Result,
  type Scope,
} from '@tenantry/core';
import type { Kysely } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import type { RequestContext } from '../request-context.ts';
import { refusable } from './refusable.ts';
import { checkEmail, userByEmail } from './users.ts';

/** Each operator role's scopes as a set, made once: a staff token's every request reads one. */
const ROLE_SCOPE_SETS: Readonly<Record<OperatorRole, ReadonlySet<Scope>>> = {
  admin: new Set(OPERATOR_ROLE_SCOPES.admin),
  support: new Set(OPERATOR_ROLE_SCOPES.support),
  finance: new Set(OPERATOR_ROLE_SCOPES.finance),
};

/** A member of the vendor's operator organisation, as the API shows it. */
export interface StaffView {
  user_id: string;
  email: string;
  name: string | null;
  role: OperatorRole;
  /** The API scopes the role holds. */
  scopes: Scope[];
  created_at: string;
  updated_at: string;
}

/**
 * The vendor's staff: users of the operator organisation with an operator role (admin, support,
 * finance), so that people sign in as themselves instead of sharing operator keys.
 */
export class StaffService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /** Adds the user with `email` (made if new) to the staff with `role`, or changes their role. */
  async add(
    ctx: RequestContext,
    input: { email: string; role: OperatorRole },
  ): Promise<Result<StaffView, DomainError>> {
    const checked = checkEmail(input.email);
    if (!checked.ok) return checked;
    const email = checked.value;
    return refusable(this.#db, async (tx) => {
      const now = this.#clock.now();
      const user = await userByEmail(tx, email, now);
      const before = await tx
        .selectFrom('staff_members')
        .select('role')
        .where('user_id', '=', user.id)
        .forUpdate()
        .executeTakeFirst();
      if (before?.role !== input.role) {
        await tx
          .insertInto('staff_members')
          .values({ user_id: user.id, role: input.role, updated_at: now })
          .onConflict((oc) => oc.column('user_id').doUpdateSet({ role: input.role, updated_at: now }))
          .execute();
        await recordChange(tx, ctx, {
          action: 'staff.added',
          tenantId: null,
          target: { type: 'staff_member', id: user.id },
          before: { role: before?.role ?? null },
          after: { role: input.role },
          data: { email, role: input.role, previous_role: before?.role ?? null },
          occurredAt: now,
        });
      }
      const row = await this.#staff(tx).where('s.user_id', '=', user.id).executeTakeFirstOrThrow();
      return ok(view(row));
    });
  }

  async list(): Promise<StaffView[]> {
    const rows = await this.#staff(this.#db).orderBy('u.email_key').execute();
    return rows.map(view);
  }

  /** Removes the user from the staff, and answers with who they were. */
  async remove(ctx: RequestContext, userId: string): Promise<Result<StaffView, DomainError>> {
    return refusable(this.#db, async (tx) => {
      const removed = await this.#staff(tx).where('s.user_id', '=', userId).forUpdate('s').executeTakeFirst();
      if (!removed) return fail('staff_member_not_found', `no staff member has the user id "${userId}"`);
      await tx.deleteFrom('staff_members').where('user_id', '=', userId).execute();
      await recordChange(tx, ctx, {
        action: 'staff.removed',
        tenantId: null,
        target: { type: 'staff_member', id: userId },
        data: { role: removed.role },
        occurredAt: this.#clock.now(),
      });
      return ok(view(removed));
    });
  }

  /**
   * The API scopes `userId` holds as staff, read live; null when they are not staff (any more).
   * User-token authentication maps a staff token to these.
   */
  async staffScopesOf(userId: string): Promise<ReadonlySet<Scope> | null> {
    const role = await this.roleOf(userId);
    return role ? ROLE_SCOPE_SETS[role] : null;
  }

  /**
   * The operator role `userId` holds, read live; null when they are not staff (any more). The
   * OpenID provider signs staff in to the operator organisation with it.
   */
  async roleOf(userId: string): Promise<OperatorRole | null> {
    const row = await this.#db
      .selectFrom('staff_members')
      .select('role')
      .where('user_id', '=', userId)
      .executeTakeFirst();
    return row?.role ?? null;
  }

  #staff(db: Kysely<Schema>) {
    return db
      .selectFrom('staff_members as s')
      .innerJoin('users as u', 'u.id', 's.user_id')
      .select(['s.user_id', 's.role', 's.created_at', 's.updated_at', 'u.email', 'u.name']);
  }
}

function view(row: {
  user_id: string;
  role: OperatorRole;
  created_at: Date;
  updated_at: Date;
  email: string;
  name: string | null;
}): StaffView {
  return {
    user_id: row.user_id,
    email: row.email,
    name: row.name,
    role: row.role,
    scopes: [...OPERATOR_ROLE_SCOPES[row.role]],
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}
