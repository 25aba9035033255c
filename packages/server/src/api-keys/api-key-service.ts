import { createHash } from 'node:crypto';
import {
  ALL_SCOPES,
  type DomainError,
  fail,
  isScope,
  KEY_PRESETS,
  type KeyPreset,
  ok,
  type Result,
  type Scope,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { ApiKeysTable, Schema } from '../db/index.ts';
import { newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { displayPrefixOf, generateSecret, type KeyKind, secretFormat } from './key-format.ts';

/** How precisely `last_used_at` follows the key's use. */
const LAST_USED_RESOLUTION_MS = 60_000;

/** How long a verified key is trusted without asking the database again. */
const AUTH_CACHE_MS = 10_000;

/** An API key as the API shows it: never the secret, never its hash. */
export interface ApiKeyView {
  id: string;
  name: string;
  kind: KeyKind;
  /** What the key may do; an operator key holds every scope, including scopes added later. */
  scopes: Scope[];
  display_prefix: string;
  created_at: string;
  /** When the key was last presented, to within a minute; null if never. */
  last_used_at: string | null;
  revoked_at: string | null;
  /** When a rolled key stops working; null for a key that was not rolled. */
  expires_at: string | null;
  /** The key that replaced this one when it was rolled. */
  rolled_to: string | null;
}

/** A key that a request presented and that was found active. */
export interface AuthenticatedKey {
  readonly id: string;
  readonly kind: KeyKind;
  readonly scopes: ReadonlySet<Scope>;
}

/**
 * What a new key may do, as asked for: `preset: 'operator'` (the default when no scopes are
 * named) for every scope, or `preset: 'app'` and/or a list of scopes for a restricted key.
 */
export interface KeyGrantInput {
  readonly preset?: 'operator' | KeyPreset | undefined;
  readonly scopes?: readonly Scope[] | undefined;
}

/** What a key may do, resolved: everything, or exactly `scopes`. */
type Grant =
  | { readonly kind: 'operator' }
  | { readonly kind: 'restricted'; readonly scopes: readonly Scope[] };

const EVERY_SCOPE: ReadonlySet<Scope> = new Set(ALL_SCOPES);

function grantOf(input: KeyGrantInput): Grant {
  if (input.preset === 'operator' || (input.preset === undefined && !input.scopes?.length))
    return { kind: 'operator' };
  const wanted = new Set<Scope>([
    ...(input.preset ? KEY_PRESETS[input.preset] : []),
    ...(input.scopes ?? []),
  ]);
  // In the catalogue's order, so that equal grants read the same.
  return { kind: 'restricted', scopes: ALL_SCOPES.filter((scope) => wanted.has(scope)) };
}

function grantOfRow(row: Pick<Selectable<ApiKeysTable>, 'kind' | 'scopes'>): Grant {
  // Scopes are never renamed (see SCOPES); a name the catalogue lacks can only grant nothing.
  return row.kind === 'operator'
    ? { kind: 'operator' }
    : { kind: 'restricted', scopes: (row.scopes ?? []).filter(isScope) };
}

/**
 * The scopes of `grant` that `grantor` does not hold: a key may hand out only what it holds
 * itself, and only an operator key may make another operator key (which also gets every scope
 * added in later versions).
 */
function beyond(grantor: AuthenticatedKey, grant: Grant): Scope[] {
  if (grantor.kind === 'operator') return [];
  if (grant.kind === 'operator') return [...ALL_SCOPES];
  return grant.scopes.filter((scope) => !grantor.scopes.has(scope));
}

function escalation(grantor: AuthenticatedKey, grant: Grant, verb: string) {
  const missing = beyond(grantor, grant);
  if (missing.length === 0) return undefined;
  const what = grant.kind === 'operator' ? 'an operator key' : `a key with ${missing.join(', ')}`;
  return fail('insufficient_scope', `a key may not ${verb} ${what}: it does not hold that itself`, {
    details: { required_scopes: missing },
  });
}

/** A key just created: the only time its secret is seen. */
export interface CreatedApiKey extends ApiKeyView {
  secret: string;
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

function view(row: Selectable<ApiKeysTable>): ApiKeyView {
  const grant = grantOfRow(row);
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    scopes: grant.kind === 'operator' ? [...ALL_SCOPES] : [...grant.scopes],
    display_prefix: row.display_prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    expires_at: row.expires_at?.toISOString() ?? null,
    rolled_to: row.rolled_to,
  };
}

function authenticated(row: Pick<Selectable<ApiKeysTable>, 'id' | 'kind' | 'scopes'>): AuthenticatedKey {
  const grant = grantOfRow(row);
  return {
    id: row.id,
    kind: grant.kind,
    scopes: grant.kind === 'operator' ? EVERY_SCOPE : new Set(grant.scopes),
  };
}

/** Key `id`'s row, locked for the rest of the transaction. */
async function lockedRow(
  tx: Transaction<Schema>,
  id: string,
): Promise<Result<Selectable<ApiKeysTable>, DomainError>> {
  const row = await tx.selectFrom('api_keys').selectAll().where('id', '=', id).forUpdate().executeTakeFirst();
  return row ? ok(row) : fail('api_key_not_found', `no API key has the id "${id}"`);
}

/** How many verified secrets are remembered before expired ones are swept out. */
const AUTH_CACHE_SWEEP_AT = 1_000;

/** API keys: creating, listing, rolling, revoking, and checking a presented secret. */
export class ApiKeyService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;
  /**
   * Keys verified lately, by the secret itself (the same secret the request holds in memory
   * anyway), so that a cached check costs a map lookup and no hashing. Only active keys are put
   * here; revoking or rolling on this process removes them at once.
   */
  readonly #verified = new Map<string, { key: AuthenticatedKey; until: number; expiresAt: number | null }>();
  /** Bumped by every revocation and roll, so that a check that read the key before it is not cached. */
  #revocations = 0;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * The active key whose secret this is, when it was verified within the last
   * {@link AUTH_CACHE_MS} and not revoked or rolled on this process since; otherwise undefined,
   * and the caller asks {@link authenticate}. Synchronous, for the request path.
   */
  cached(secret: string): AuthenticatedKey | undefined {
    const cached = this.#verified.get(secret);
    if (cached === undefined || cached.until <= Date.now()) return undefined;
    // A rolled key's overlap ends by the service's clock, which tests move by hand.
    return cached.expiresAt === null || cached.expiresAt > this.#clock.now().getTime()
      ? cached.key
      : undefined;
  }

  /**
   * The active key whose secret this is, or null. A secret whose checksum does not hold is
   * refused without a database lookup. Verified keys are remembered for a few seconds so that a
   * request costs no extra query; revoking on this process forgets at once, other processes
   * within {@link AUTH_CACHE_MS}. A rolled key is refused once its overlap has ended.
   */
  async authenticate(secret: string): Promise<AuthenticatedKey | null> {
    if (secretFormat(secret) === 'invalid') return null;
    const cached = this.cached(secret);
    if (cached !== undefined) return cached;
    const revocations = this.#revocations;
    const now = this.#clock.now();
    const row = await this.#db
      .selectFrom('api_keys')
      .select(['id', 'kind', 'scopes', 'last_used_at', 'expires_at'])
      .where('secret_hash', '=', hashSecret(secret))
      .where('revoked_at', 'is', null)
      .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
      .executeTakeFirst();
    if (!row) {
      this.#verified.delete(secret);
      return null;
    }
    // Written at most once a minute per key, so that `last_used_at` costs reads nothing.
    const usedAt = Date.now();
    if (!row.last_used_at || row.last_used_at.getTime() < usedAt - LAST_USED_RESOLUTION_MS) {
      await this.#db
        .updateTable('api_keys')
        .set({ last_used_at: new Date(usedAt) })
        .where('id', '=', row.id)
        .execute();
    }
    const key = authenticated(row);
    // A key revoked on this process while the query ran may have been read as active: it is
    // answered (the request raced the revocation) but not remembered.
    if (this.#revocations === revocations) this.#remember(secret, key, row.expires_at?.getTime() ?? null);
    return key;
  }

  #remember(secret: string, key: AuthenticatedKey, expiresAt: number | null): void {
    const now = Date.now();
    if (this.#verified.size >= AUTH_CACHE_SWEEP_AT) {
      for (const [known, entry] of this.#verified) if (entry.until <= now) this.#verified.delete(known);
    }
    this.#verified.set(secret, { key, until: now + AUTH_CACHE_MS, expiresAt });
  }

  #forget(keyId: string): void {
    this.#revocations++;
    for (const [secret, entry] of this.#verified) if (entry.key.id === keyId) this.#verified.delete(secret);
  }

  /**
   * Creates a key; the secret is in the answer and nowhere else. For callers the system trusts
   * (start-up, tests); a request goes through {@link createAs}.
   */
  async create(ctx: RequestContext, input: KeyGrantInput & { name: string }): Promise<CreatedApiKey> {
    const grant = grantOf(input);
    return this.#db
      .transaction()
      .execute((tx) => this.#insertIn(tx, ctx, input.name, grant, generateSecret(grant.kind)));
  }

  /** Creates a key for `grantor`, which may hand out only scopes it holds itself. */
  async createAs(
    grantor: AuthenticatedKey,
    ctx: RequestContext,
    input: KeyGrantInput & { name: string },
  ): Promise<Result<CreatedApiKey, DomainError>> {
    const refused = escalation(grantor, grantOf(input), 'create');
    return refused ?? ok(await this.create(ctx, input));
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
      const secret = bootstrapToken ?? generateSecret('operator');
      const { secret: _shown, ...key } = await this.#insertIn(
        tx,
        ctx,
        'bootstrap',
        { kind: 'operator' },
        secret,
      );
      return { created: true, key, generatedSecret: bootstrapToken ? null : secret };
    });
  }

  /** Every key, newest first, without secrets. */
  async list(): Promise<ApiKeyView[]> {
    const rows = await this.#db.selectFrom('api_keys').selectAll().orderBy('id', 'desc').execute();
    return rows.map(view);
  }

  /**
   * Gives key `id` a successor with a new secret and the same name and scopes; `id` keeps working
   * for `overlapSeconds` (so the new secret can be deployed everywhere), then is refused. Only a
   * grantor that holds the key's scopes may roll it: the new secret is in the answer.
   */
  async roll(
    grantor: AuthenticatedKey,
    ctx: RequestContext,
    id: string,
    overlapSeconds: number,
  ): Promise<Result<CreatedApiKey, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const found = await lockedRow(tx, id);
      if (!found.ok) return found;
      const row = found.value;
      const grant = grantOfRow(row);
      const refused = escalation(grantor, grant, 'roll');
      if (refused) return refused;
      const now = this.#clock.now();
      // Only a roll sets expires_at, and it sets rolled_to with it.
      if (row.revoked_at || row.rolled_to) {
        const why = row.revoked_at ? 'revoked' : `already rolled to ${row.rolled_to}`;
        return fail('api_key_inactive', `the API key "${id}" is ${why}`);
      }
      const successor = await this.#insertIn(tx, ctx, row.name, grant, generateSecret(grant.kind), id);
      const expiresAt = new Date(now.getTime() + overlapSeconds * 1000);
      await tx
        .updateTable('api_keys')
        .set({ expires_at: expiresAt, rolled_to: successor.id })
        .where('id', '=', id)
        .execute();
      await recordChange(tx, ctx, {
        action: 'api_key.rolled',
        tenantId: null,
        target: { type: 'api_key', id },
        before: { expires_at: null, rolled_to: null },
        after: { expires_at: expiresAt.toISOString(), rolled_to: successor.id },
        data: { name: row.name, rolled_to: successor.id, expires_at: expiresAt.toISOString() },
        occurredAt: now,
      });
      return ok(successor);
    });
    // The old key's cached entry may outlive its overlap: it is checked again from now on.
    if (result.ok) this.#forget(id);
    return result;
  }

  /** Revokes a key; requests that present it are refused from now on. Revoking twice is harmless. */
  async revoke(ctx: RequestContext, id: string): Promise<Result<ApiKeyView, DomainError>> {
    const result = await this.#db.transaction().execute(async (tx) => {
      const found = await lockedRow(tx, id);
      if (!found.ok) return found;
      const row = found.value;
      if (row.revoked_at) return ok(view(row));
      const now = new Date();
      const revoked = await tx
        .updateTable('api_keys')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'api_key.revoked',
        tenantId: null,
        target: { type: 'api_key', id },
        before: { revoked_at: null },
        after: { revoked_at: now.toISOString() },
        data: { name: row.name },
        occurredAt: now,
      });
      return ok(view(revoked));
    });
    // Forgotten after the commit: a request verified in between would otherwise cache the key
    // again from a row that still looked active. The counter keeps a check whose query read the
    // row before the commit from caching it once it finishes.
    if (result.ok) this.#forget(id);
    return result;
  }

  async #insertIn(
    tx: Transaction<Schema>,
    ctx: RequestContext,
    name: string,
    grant: Grant,
    secret: string,
    rolledFrom?: string,
  ): Promise<CreatedApiKey> {
    const row = await tx
      .insertInto('api_keys')
      .values({
        id: newId('key'),
        name,
        kind: grant.kind,
        scopes: grant.kind === 'operator' ? null : [...grant.scopes],
        display_prefix: displayPrefixOf(secret),
        secret_hash: hashSecret(secret),
        last_used_at: null,
        revoked_at: null,
        expires_at: null,
        rolled_to: null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    const key = view(row);
    await recordChange(tx, ctx, {
      action: 'api_key.created',
      tenantId: null,
      target: { type: 'api_key', id: row.id },
      data: { name, kind: key.kind, scopes: key.scopes, ...(rolledFrom ? { rolled_from: rolledFrom } : {}) },
      occurredAt: this.#clock.now(),
    });
    return { ...key, secret };
  }
}
