import {
  type DomainError,
  type FieldError,
  fail,
  type LicenseClaims,
  licenseEntitlements,
  ok,
  type Result,
  signLicense,
} from '@tenantry/core';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { type Kysely, type Selectable, sql } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { LicenseKeysTable, LicensesTable, Schema } from '../db/index.ts';
import type { EntitlementService } from '../entitlements/index.ts';
import { newId } from '../ids.ts';
import { type RequestContext, systemContext } from '../request-context.ts';
import type { SecretBox } from '../secrets/index.ts';
import { type TenantService, tenantNotFound } from '../tenants/index.ts';

const DAY_MS = 86_400_000;

/** A license key's public half, as installs configure it in their keyring: never a private member. */
export interface PublicLicenseJwk {
  readonly kty: 'OKP';
  readonly crv: 'Ed25519';
  readonly x: string;
  readonly kid: string;
  readonly alg: 'EdDSA';
  readonly use: 'sig';
}

/** A license key as the API shows it: its public half and its dates. */
export interface LicenseKeyView {
  kid: string;
  /** `active` signs the licenses issued now; `retired` signs nothing more but stays published. */
  status: 'active' | 'retired';
  created_at: string;
  retired_at: string | null;
  public_jwk: PublicLicenseJwk;
}

/** Where a license is: `expired` is an active one past its `expires_at` (grace not counted). */
export type LicenseStatus = 'active' | 'superseded' | 'revoked' | 'expired';

/** A license as the API lists it. */
export interface LicenseView {
  id: string;
  tenant_id: string;
  seq: number;
  kid: string;
  status: LicenseStatus;
  edition: string;
  plan: { key: string; version: number };
  seats: number | null;
  issued_at: string;
  expires_at: string;
  grace_days: number;
  offline_days: number | null;
  phone_home: boolean;
  install: string | null;
  superseded_at: string | null;
  revoked_at: string | null;
  revoke_reason: string | null;
}

/** A license with its token: the signed JWS the customer installs. */
export interface IssuedLicense extends LicenseView {
  token: string;
}

/** What an operator chooses when issuing; the entitlements come from the tenant's plan and overrides. */
export interface IssueLicenseInput {
  /** Defaults to the plan's key. */
  readonly edition?: string | undefined;
  /** Exactly one of `expires_at` and `days`. */
  readonly expires_at?: string | undefined;
  readonly days?: number | undefined;
  readonly grace_days?: number | undefined;
  readonly offline_days?: number | null | undefined;
  readonly phone_home?: boolean | undefined;
  readonly install?: string | null | undefined;
  /** Defaults to the tenant's `seats` limit (null: unlimited, when the plan sets none). */
  readonly seats?: number | null | undefined;
}

/** Days after expiry an install keeps running when the operator does not say. */
export const DEFAULT_GRACE_DAYS = 14;

type KeyRow = Selectable<LicenseKeysTable>;
type LicenseRow = Selectable<LicensesTable>;

// Serializes key generation: two at once would both retire the same key and race for `active`.
const KEYS_LOCK = sql`select pg_advisory_xact_lock(hashtext('tenantry.license_keys'))`;

const SYSTEM = systemContext('license_keys');

export interface LicenseServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly secrets: SecretBox;
  readonly tenants: TenantService;
  readonly entitlements: EntitlementService;
  /** The licenses' `iss`: who issued them. */
  readonly issuer: string;
}

/**
 * License signing keys and the licenses issued with them. A license is issued from the tenant's
 * current entitlement snapshot (its plan version and overrides), so a self-hosted install gets
 * exactly what the same deal gives a SaaS tenant; each issue to a tenant takes the next `seq` and
 * supersedes the tenant's active license, in one audited transaction.
 */
export class LicenseService {
  readonly #o: LicenseServiceOptions;

  constructor(options: LicenseServiceOptions) {
    this.#o = options;
  }

  /**
   * Generates an Ed25519 key pair; the new key signs from now on and the previous active key is
   * retired, its private half erased. Retired keys stay published: the licenses they signed must
   * keep verifying.
   */
  async createKey(ctx: RequestContext): Promise<LicenseKeyView> {
    const pair = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    const { kty, crv, x } = await exportJWK(pair.publicKey);
    if (kty !== 'OKP' || crv !== 'Ed25519' || !x) throw new Error('generateKeyPair gave an unexpected key');
    const kid = await calculateJwkThumbprint({ kty, crv, x });
    const publicJwk: PublicLicenseJwk = { kty: 'OKP', crv: 'Ed25519', x, kid, alg: 'EdDSA', use: 'sig' };
    const sealed = await this.#o.secrets.seal(purpose(kid), JSON.stringify(await exportJWK(pair.privateKey)));
    return this.#o.db.transaction().execute(async (tx) => {
      await KEYS_LOCK.execute(tx);
      const now = this.#o.clock.now();
      const retired = await tx
        .updateTable('license_keys')
        .set({ status: 'retired', retired_at: now, private_key_sealed: null })
        .where('status', '=', 'active')
        .returning('kid')
        .executeTakeFirst();
      const row = await tx
        .insertInto('license_keys')
        .values({
          kid,
          public_jwk: JSON.stringify(publicJwk),
          private_key_sealed: sealed,
          status: 'active',
          created_at: now,
          retired_at: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'license_key.created',
        tenantId: null,
        target: { type: 'license_key', id: kid },
        data: { retired: retired?.kid ?? null },
        occurredAt: now,
      });
      return keyView(row);
    });
  }

  /**
   * Seals the active key's private half again with the current master key when an older one
   * sealed it, audited; throws when no master key given opens it. Run on start, so that the old
   * master key can be dropped after a rotation, and a wrong one is found then, not at the first issue.
   */
  async resealKeys(): Promise<void> {
    await this.#o.db.transaction().execute(async (tx) => {
      await KEYS_LOCK.execute(tx);
      const rows = await tx
        .selectFrom('license_keys')
        .select(['kid', 'private_key_sealed'])
        .where('private_key_sealed', 'is not', null)
        .execute();
      for (const row of rows) {
        if (row.private_key_sealed === null || this.#o.secrets.isCurrent(row.private_key_sealed)) continue;
        const jwk = await this.#o.secrets.open(purpose(row.kid), row.private_key_sealed);
        await tx
          .updateTable('license_keys')
          .set({ private_key_sealed: await this.#o.secrets.seal(purpose(row.kid), jwk) })
          .where('kid', '=', row.kid)
          .execute();
        await recordChange(tx, SYSTEM, {
          action: 'license_key.resealed',
          tenantId: null,
          target: { type: 'license_key', id: row.kid },
          data: { master_key_id: this.#o.secrets.currentKeyId },
          occurredAt: this.#o.clock.now(),
        });
      }
    });
  }

  /** Every license key, newest first, public halves only. */
  async listKeys(): Promise<LicenseKeyView[]> {
    const rows = await this.#o.db
      .selectFrom('license_keys')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('kid')
      .execute();
    return rows.map(keyView);
  }

  /** Signs a license for the tenant from its current plan version and overrides. */
  async issue(
    ctx: RequestContext,
    tenantRef: string,
    input: IssueLicenseInput,
  ): Promise<Result<IssuedLicense, DomainError>> {
    const now = this.#o.clock.now();
    const expiresAt = expiry(input, now);
    if (!expiresAt.ok) return expiresAt;
    const record = await this.#o.tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    if (record.state === 'deleted') return fail('tenant_deleted', `tenant ${record.id} is deleted`);
    // Read fresh, not from the cache: a change another process committed a moment ago must not be
    // missed while its notification is on its way. Issuing is rare; the rebuild is cheap.
    this.#o.entitlements.invalidate(record.id);
    const entitled = await this.#o.entitlements.get(record.id);
    if (!entitled.ok) return entitled;
    const { snapshot } = entitled.value;
    if (!snapshot.active || snapshot.plan === null) {
      return fail(
        'tenant_inactive',
        `tenant ${record.id} may use nothing now (${snapshot.reason ?? record.state}): a license would entitle nothing`,
      );
    }
    const plan = snapshot.plan;
    const entitlements = licenseEntitlements(snapshot);
    const seats = input.seats === undefined ? (entitlements.limits.seats?.limit ?? null) : input.seats;

    const result = await this.#o.db.transaction().execute(async (tx) => {
      // One issue per tenant at a time, so that two never take the same seq or both stay active.
      await sql`select pg_advisory_xact_lock(hashtext('tenantry.licenses'), hashtext(${record.id}))`.execute(
        tx,
      );
      const key = await tx
        .selectFrom('license_keys')
        .select(['kid', 'private_key_sealed'])
        .where('status', '=', 'active')
        .executeTakeFirst();
      if (!key) {
        return fail(
          'license_key_missing',
          'no license signing key exists yet: generate one (POST /v1/license-keys) first',
        );
      }
      const last = await tx
        .selectFrom('licenses')
        .select((eb) => eb.fn.max('seq').as('seq'))
        .where('tenant_id', '=', record.id)
        .executeTakeFirst();
      const seq = (last?.seq ?? 0) + 1;
      const id = newId('lic', now.getTime());
      const iat = Math.floor(now.getTime() / 1000);
      const claims: LicenseClaims = {
        iss: this.#o.issuer,
        jti: id,
        customer: { id: record.id, name: record.name },
        edition: input.edition ?? plan.key,
        seats,
        plan: { key: plan.key, version: plan.version },
        entitlements,
        iat,
        nbf: iat,
        exp: Math.floor(expiresAt.value.getTime() / 1000),
        grace_days: input.grace_days ?? DEFAULT_GRACE_DAYS,
        offline_days: input.offline_days ?? null,
        phone_home: input.phone_home ?? false,
        install: input.install ?? null,
        seq,
      };
      if (key.private_key_sealed === null)
        throw new Error(`active license key ${key.kid} has no private half`);
      const privateJwk = JSON.parse(
        await this.#o.secrets.open(purpose(key.kid), key.private_key_sealed),
      ) as JWK;
      const signed = await signLicense(claims, { kid: key.kid, privateJwk });
      // The route checks every field the operator gives and expiry() the dates, so a refusal is a
      // bug here: throwing rolls the transaction back.
      if (!signed.ok) throw new Error(`license claims refused: ${signed.error.message}`);
      const superseded = await tx
        .updateTable('licenses')
        .set({ status: 'superseded', superseded_at: now })
        .where('tenant_id', '=', record.id)
        .where('status', '=', 'active')
        .returning(['id', 'seq'])
        .execute();
      const row = await tx
        .insertInto('licenses')
        .values({
          id,
          tenant_id: record.id,
          seq,
          kid: key.kid,
          token: signed.value,
          claims: JSON.stringify(claims),
          issued_at: now,
          expires_at: expiresAt.value,
          superseded_at: null,
          revoked_at: null,
          revoke_reason: null,
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      for (const old of superseded) {
        await recordChange(tx, ctx, {
          action: 'license.superseded',
          tenantId: record.id,
          target: { type: 'license', id: old.id },
          before: { status: 'active' },
          after: { status: 'superseded' },
          data: { superseded_by: id, seq: old.seq },
          occurredAt: now,
        });
      }
      await recordChange(tx, ctx, {
        action: 'license.issued',
        tenantId: record.id,
        target: { type: 'license', id },
        data: {
          license_id: id,
          seq,
          kid: key.kid,
          plan: plan.key,
          version: plan.version,
          edition: claims.edition,
          expires_at: expiresAt.value.toISOString(),
          supersedes: superseded[0]?.id ?? null,
        },
        occurredAt: now,
      });
      return ok({ ...licenseView(row, now), token: row.token });
    });
    return result;
  }

  /** A tenant's licenses, newest (highest seq) first, one page at a time. */
  async list(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<{ data: LicenseView[]; next_cursor: string | null }, DomainError>> {
    let before: number | undefined;
    if (page.cursor !== undefined) {
      before = /^[1-9][0-9]{0,9}$/.test(page.cursor) ? Number(page.cursor) : undefined;
      if (before === undefined) {
        return fail('validation_failed', 'the cursor is not one this API gave out', {
          errors: [{ path: 'query.cursor', message: 'is not a cursor from a previous page' }],
        });
      }
    }
    const record = await this.#o.tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    let query = this.#o.db
      .selectFrom('licenses')
      .selectAll()
      .where('tenant_id', '=', record.id)
      .orderBy('seq', 'desc')
      .limit(page.limit + 1);
    if (before !== undefined) query = query.where('seq', '<', before);
    const rows = await query.execute();
    const now = this.#o.clock.now();
    const data = rows.slice(0, page.limit);
    const last = data.at(-1);
    return ok({
      data: data.map((row) => licenseView(row, now)),
      next_cursor: rows.length > page.limit && last ? String(last.seq) : null,
    });
  }

  /** One license, with its token. */
  async get(id: string): Promise<Result<IssuedLicense, DomainError>> {
    const row = await this.#o.db.selectFrom('licenses').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return licenseNotFound(id);
    return ok({ ...licenseView(row, this.#o.clock.now()), token: row.token });
  }

  /**
   * Revokes a license. The token stays valid offline (installs learn of the revocation when they
   * check in); the tenant's other licenses are left as they are.
   */
  async revoke(ctx: RequestContext, id: string, reason?: string): Promise<Result<LicenseView, DomainError>> {
    return this.#o.db.transaction().execute(async (tx) => {
      const row = await tx
        .selectFrom('licenses')
        .selectAll()
        .where('id', '=', id)
        .forUpdate()
        .executeTakeFirst();
      if (!row) return licenseNotFound(id);
      if (row.status === 'revoked') {
        return fail(
          'license_already_revoked',
          `license ${id} was revoked at ${row.revoked_at?.toISOString()}`,
        );
      }
      const now = this.#o.clock.now();
      const revoked = await tx
        .updateTable('licenses')
        .set({ status: 'revoked', revoked_at: now, revoke_reason: reason ?? null })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirstOrThrow();
      await recordChange(tx, ctx, {
        action: 'license.revoked',
        tenantId: row.tenant_id,
        target: { type: 'license', id },
        before: { status: row.status },
        after: { status: 'revoked' },
        data: { license_id: id, seq: row.seq, reason: reason ?? null },
        occurredAt: now,
      });
      return ok(licenseView(revoked, now));
    });
  }
}

/** When the license expires: `expires_at` or `days` from now, in the future either way. */
function expiry(input: IssueLicenseInput, now: Date): Result<Date, DomainError> {
  const invalid = (error: FieldError) => fail('validation_failed', error.message, { errors: [error] });
  if ((input.expires_at === undefined) === (input.days === undefined)) {
    return invalid({ path: 'expires_at', message: 'give exactly one of expires_at and days' });
  }
  const at =
    input.expires_at === undefined
      ? new Date(now.getTime() + (input.days ?? 0) * DAY_MS)
      : new Date(input.expires_at);
  if (at.getTime() <= now.getTime()) {
    return invalid({
      path: input.expires_at === undefined ? 'days' : 'expires_at',
      message: `must be after now (${now.toISOString()})`,
    });
  }
  return ok(at);
}

function licenseNotFound(id: string): { readonly ok: false; readonly error: DomainError } {
  return fail('license_not_found', `no license has the id "${id}"`);
}

/** What a license key's sealed private half is for: it opens for that key's row only. */
function purpose(kid: string): string {
  return `license_key:${kid}`;
}

function keyView(row: KeyRow): LicenseKeyView {
  return {
    kid: row.kid,
    status: row.status,
    created_at: row.created_at.toISOString(),
    retired_at: row.retired_at?.toISOString() ?? null,
    public_jwk: row.public_jwk as unknown as PublicLicenseJwk,
  };
}

function licenseView(row: LicenseRow, now: Date): LicenseView {
  const claims = row.claims as unknown as LicenseClaims;
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    seq: row.seq,
    kid: row.kid,
    status: row.status === 'active' && row.expires_at <= now ? 'expired' : row.status,
    edition: claims.edition,
    plan: claims.plan,
    seats: claims.seats,
    issued_at: row.issued_at.toISOString(),
    expires_at: row.expires_at.toISOString(),
    grace_days: claims.grace_days,
    offline_days: claims.offline_days,
    phone_home: claims.phone_home,
    install: claims.install,
    superseded_at: row.superseded_at?.toISOString() ?? null,
    revoked_at: row.revoked_at?.toISOString() ?? null,
    revoke_reason: row.revoke_reason,
  };
}
