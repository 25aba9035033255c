import { createHash, randomBytes } from 'node:crypto';
import { type DomainError, fail, ok, type Result } from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { type RequestContext, recordAudit } from '../audit/audit-log.ts';
import type { ApiKeysTable, Schema } from '../db/schema.ts';
import { newId } from '../ids.ts';

/** Operator keys start with this, so a leaked one is recognisable (secret scanners match on it). */
export const OPERATOR_KEY_PREFIX = 'tnt_op_';

/** How precisely `last_used_at` follows the key's use. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** How long a verified key is trusted without asking the database again. */
const AUTH_CACHE_MS = 10_000;

/** An API key as the API shows it: never the secret, never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  kind: 'operator';
  display_prefix: string;
  created_at: string;
  /** When the key was last presented, to within a minute; null if never. */
  last_used_at: string | null;
  revoked_at: string | null;
}

/** A key just created: the only time its secret is seen. */
export interface CreatedApiKey extends ApiKeyView {
  secret: string;
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function generateSecret(): string {
  return OPERATOR_KEY_PREFIX + randomBytes(32).toString('base64url');
}

function view(row: Selectable<ApiKeysTable>): ApiKeyView {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    display_prefix: row.display_prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
  };
}

/** How many verified secrets are remembered before expired ones are swept out. */
const AUTH_CACHE_SWEEP_AT = 1_000;

/** Operator API keys: creating, listing, revoking, and checking a presented secret. */
export class ApiKeyService {
  readonly #db: Kysely<Schema>;
  /**
   * Secrets verified lately, by the secret itself (the same secret the request holds in memory
   * anyway), so that a cached check costs a map lookup and no hashing. Only active keys are put
   * here; revoking on this process removes them at once.
   */
  readonly #verified = new Map<string, { keyId: string; until: number }>();
  /** Bumped by every revocation, so that a check that read the key before it was revoked is not cached. */
  #revocations = 0;

  constructor(db: Kysely<Schema>) {
    this.#db = db;
  }

  /**
   * The id of the active key whose secret this is, when it was verified within the last
   * {@link AUTH_CACHE_MS} and not revoked on this process since; otherwise undefined, and the
   * caller asks {@link authenticate}. Synchronous, for the request path.
   */
  cachedKeyId(secret: string): string | undefined {
    const cached = this.#verified.get(secret);
    return cached !== undefined && cached.until > Date.now() ? cached.keyId : undefined;
  }

  /**
   * The id of the active key whose secret this is, or null. Verified keys are remembered for a
   * few seconds so that a request costs no extra query; revoking on this process forgets at once,
   * other processes within {@link AUTH_CACHE_MS}.
   */
  async authenticate(secret: string): Promise<string | null> {
    if (!secret.startsWith(OPERATOR_KEY_PREFIX)) return null;
    const cached = this.cachedKeyId(secret);
    if (cached !== undefined) return cached;
    const revocations = this.#revocations;
    const row = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'last_used_at'])
      .where('secret_hash', '=', hashSecret(secret))
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    if (!row) {
      this.#verified.delete(secret);
      return null;
    }
    const now = Date.now();
    // Written at most once a minute per key, so that `last_used_at` costs reads nothing.
    if (!row.last_used_at || row.last_used_at.getTime() < now - LAST_USED_RESOLUTION_MS) {
      await this.#db
        .updateTable('api_keys')
        .set({ last_used_at: new Date(now) })
        .where('id', '=', row.id)
        .execute();
    }
    // A key revoked on this process while the query ran may have been read as active: it is
    // answered (the request raced the revocation) but not remembered.
    if (this.#revocations === revocations) this.#remember(secret, row.id, now);
    return row.id;
  }

  #remember(secret: string, keyId: string, now: number): void {
    if (this.#verified.size >= AUTH_CACHE_SWEEP_AT) {
      for (const [known, entry] of this.#verified) if (entry.until <= now) this.#verified.delete(known);
    }
    this.#verified.set(secret, { keyId, until: now + AUTH_CACHE_MS });
  }

  /** Creates an operator key; the secret is in the answer and nowhere else. */
  async create(ctx: RequestContext, input: { name: string }): Promise<CreatedApiKey> {
    return this.#insert(ctx, input.name, generateSecret());
  }

  /**
   * Makes sure an operator can get in on first start. With no active key, `bootstrapToken` (when
   * given) becomes the first key; otherwise a key is generated. Returns the secret only when it
   * was generated here, so the caller prints it once. Several processes starting together make
   * one key: the check and the insert hold an advisory lock.
   *
   * A bootstrap token that was once a key and has been revoked is never brought back to life (it
   * may have leaked; that is why it was revoked): nothing is created and `revokedBootstrapToken`
   * says why, so the caller can tell the operator to remove the variable.
   */
  async ensureFirstKey(
    ctx: RequestContext,
    bootstrapToken: string | undefined,
  ): Promise<
    | { created: false; revokedBootstrapToken: boolean }
    | { created: true; key: ApiKeyView; generatedSecret: string | null }
  > {
    return this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext('tenantry.first_key'))`.execute(tx);
      const existing = await tx
        .selectFrom('api_keys')
        .select('id')
        .where('revoked_at', 'is', null)
        .executeTakeFirst();
      if (existing) return { created: false, revokedBootstrapToken: false };
      if (bootstrapToken !== undefined) {
        const revoked = await tx
          .selectFrom('api_keys')
          .select('id')
          .where('secret_hash', '=', hashSecret(bootstrapToken))
          .executeTakeFirst();
        if (revoked) return { created: false, revokedBootstrapToken: true };
      }
      const secret = bootstrapToken ?? generateSecret();
      const key = await this.#insertIn(tx, ctx, 'bootstrap', secret);
      return { created: true, key, generatedSecret: bootstrapToken ? null : secret };
    });
  }

  /** Every key, newest first, without secrets. */
  async list(): Promise<ApiKeyView[]> {
    const rows = await this.#db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').execute();
    return rows.map(view);
  }

  /** Revokes a key; requests that present it are refused from now on. Revoking twice is harmless. */
  async revoke(ctx: RequestContext, id: string): Promise<Result<ApiKeyView, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('api_keys')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return fail('api_key_not_found', `no API key has the id "${id}"`);
      if (row.revoked_at) return ok(view(row));
      const revoked = await tx
        .updateTable('api_keys')
        .set({ revoked_at: new Date() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordAudit(tx, ctx, { action: 'api_key.revoked', targetType: 'api_key', targetId: id });
      return ok(view(revoked));
    });
    // Forgotten after the commit: a request verified in between would otherwise cache the key
    // again from a row that still looked active. The counter keeps a check whose query read the
    // row before the commit from caching it once it finishes.
    if (result.ok) {
      this.#revocations++;
      for (const [secret, entry] of this.#verified) if (entry.keyId === id) this.#verified.delete(secret);
    }
    return result;
  }

  async #insert(ctx: RequestContext, name: string, secret: string): Promise<CreatedApiKey> {
    return this.#db
      .transaction()
      .execute(async (tx) => ({ ...(await this.#insertIn(tx, ctx, name, secret)), secret }));
  }

  async #insertIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    name: string,
    secret: string,
  ): Promise<ApiKeyView> {
    const row = await tx
      .insertInto('api_keys')
      .values({
        id: newId('key'),
        name,
        kind: 'operator',
        display_prefix: secret.slice(0, OPERATOR_KEY_PREFIX.length + 4),
        secret_hash: hashSecret(secret),
        last_used_at: null,
        revoked_at: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(tx, ctx, {
      action: 'api_key.created',
      targetType: 'api_key',
      targetId: row.id,
      data: { name },
    });
    return view(row);
  }
}
