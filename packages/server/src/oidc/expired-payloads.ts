import type { Kysely } from 'kysely';
import type { Schema } from '../db/index.ts';

// Apart from the adapter, so that the server's declarations reach no type of oidc-provider:
// its DefinitelyTyped types (through @types/koa) do not type-check against the packages npm
// installs beside them, and a consumer of @tenantry/server need not have them.

/** Removes the provider's expired rows; returns how many went. */
export async function sweepExpired(db: Kysely<Schema>): Promise<number> {
  const result = await db
    .deleteFrom('oidc_payloads')
    .where('expires_at', '<=', new Date())
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}
