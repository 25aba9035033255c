import type { DomainError, Result } from '@tenantry/core';
import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../db/index.ts';

/** Carries a refusal out of a transaction, so that the transaction rolls back. */
class Refused extends Error {
  readonly refusal: { readonly ok: false; readonly error: DomainError };
  constructor(refusal: { readonly ok: false; readonly error: DomainError }) {
    super(refusal.error.detail);
    this.refusal = refusal;
  }
}

/**
 * Runs `work` in a transaction that commits only when it succeeds: a refusal it returns rolls back
 * everything it wrote before refusing (a user made for an invitation the seat limit then refuses),
 * so that bad input changes nothing, and comes back as the result.
 */
export async function refusable<T>(
  db: Kysely<Schema>,
  work: (tx: Transaction<Schema>) => Promise<Result<T, DomainError>>,
): Promise<Result<T, DomainError>> {
  try {
    return await db.transaction().execute(async (tx) => {
      const result = await work(tx);
      if (!result.ok) throw new Refused(result);
      return result;
    });
  } catch (error) {
    if (error instanceof Refused) return error.refusal;
    throw error;
  }
}
