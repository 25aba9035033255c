import { type DomainError, fail, ok, type Result } from '@tenantry/core';
import type { Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';
import { newId } from '../ids.ts';

/**
 * The user with `email` (compared without case), made if there is none; `created` says which.
 * Two requests making the same new user at once (invitations to two tenants) both get the one
 * row: the insert skips on the unique email, and the second reads what the first committed.
 */
export async function userByEmail(
  tx: Transaction<Schema>,
  email: string,
  now: Date,
): Promise<{ id: string; email: string; created: boolean }> {
  const key = email.toLowerCase();
  const inserted = await tx
    .insertInto('users')
    .values({ id: newId('usr'), email, email_key: key, updated_at: now })
    .onConflict((oc) => oc.column('email_key').doNothing())
    .returning(['id', 'email'])
    .executeTakeFirst();
  if (inserted) return { ...inserted, created: true };
  const existing = await tx
    .selectFrom('users')
    .select(['id', 'email'])
    .where('email_key', '=', key)
    .executeTakeFirstOrThrow();
  return { ...existing, created: false };
}

const EMAIL = /^[^\s@\p{Cc}]{1,64}@[^\s@\p{Cc}]+\.[^\s@\p{Cc}]+$/u;

/** The trimmed `email` an invitation or a staff member is made for, or the refusal naming the field. */
export function checkEmail(raw: string): Result<string, DomainError> {
  const email = raw.trim();
  if (EMAIL.test(email) && email.length <= 254) return ok(email);
  return fail('validation_failed', 'invalid fields: email', {
    errors: [{ path: 'email', message: `${JSON.stringify(email)} is not an email address` }],
  });
}
