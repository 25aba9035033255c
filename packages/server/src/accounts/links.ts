import { randomBytes } from 'node:crypto';
import type { Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';
import { hashSecret } from './session-service.ts';

export type LinkPurpose = 'verify_email' | 'reset_password';

/** How long each link works: a day to verify an address, an hour to reset a password. */
export const LINK_TTL_MS: Readonly<Record<LinkPurpose, number>> = {
  verify_email: 24 * 3_600_000,
  reset_password: 3_600_000,
};

/** A token has this shape: 32 random bytes in base64url. Anything else is not looked up. */
export const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/**
 * Makes a single-use link's token for the user: 256 random bits, which no one can forge or guess
 * (as unforgeable as a signature, and revocable, since it must be on record); only its hash is
 * stored. Earlier unused links of the same purpose stop working: the newest mail is the one.
 */
export async function createLink(
  tx: Transaction<Schema>,
  userId: string,
  purpose: LinkPurpose,
  now: Date,
): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  await tx
    .updateTable('user_links')
    .set({ used_at: now })
    .where('user_id', '=', userId)
    .where('purpose', '=', purpose)
    .where('used_at', 'is', null)
    .execute();
  await tx
    .insertInto('user_links')
    .values({
      token_hash: hashSecret(token),
      user_id: userId,
      purpose,
      created_at: now,
      expires_at: new Date(now.getTime() + LINK_TTL_MS[purpose]),
      used_at: null,
    })
    .execute();
  return token;
}

/** Why a link is refused. */
export type LinkRefusal = 'unknown' | 'used' | 'expired';

/**
 * The user a link's token is for, the row locked; or why it is refused. With `consume`, the link
 * is spent in `tx`, so that two requests with one link cannot both use it.
 */
export async function findLink(
  tx: Transaction<Schema>,
  token: string,
  purpose: LinkPurpose,
  now: Date,
  consume: boolean,
): Promise<{ ok: true; userId: string } | { ok: false; refusal: LinkRefusal }> {
  if (!TOKEN_SHAPE.test(token)) return { ok: false, refusal: 'unknown' };
  const row = await tx
    .selectFrom('user_links')
    .select(['user_id', 'expires_at', 'used_at'])
    .where('token_hash', '=', hashSecret(token))
    .where('purpose', '=', purpose)
    .forUpdate()
    .executeTakeFirst();
  if (row === undefined) return { ok: false, refusal: 'unknown' };
  if (row.used_at !== null) return { ok: false, refusal: 'used' };
  if (now >= row.expires_at) return { ok: false, refusal: 'expired' };
  if (consume) {
    await tx
      .updateTable('user_links')
      .set({ used_at: now })
      .where('token_hash', '=', hashSecret(token))
      .execute();
  }
  return { ok: true, userId: row.user_id };
}
