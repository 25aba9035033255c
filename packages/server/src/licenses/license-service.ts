import {
  type CheckInResponseClaims,
  type DomainError,
  type FieldError,
  fail,
  keysetPage,
  type LicenseClaims,
  type LicenseKeyring,
  licenseEntitlements,
  licenseKeyring,
  ok,
  type Page,
  type Result,
  signCheckInResponse,
  signLicense,
  signModule,
  signRevocationList,
  unknownCursor,
  verifyLicense,
} from '@tenantry/core';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type JWK } from 'jose';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type {
  InstallPublicJwk,
  LicenseCheckInsTable,
  LicenseKeysTable,
  LicensesTable,
  Schema,
} from '../db/index.ts';
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

/** A private module's signature, as `POST /v1/license-keys/sign-module` answers it. */
export interface ModuleSignatureView {
  /** The detached signature: a compact JWS (`typ` tenantry-module+jwt) of `{module, sha256, iat}`. */
  signature: string;
  kid: string;
  module: string;
  sha256: string;
  signed_at: string;
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

/** What an install sends when it checks in: its license is its credential. */
export interface CheckInInput {
  /** The license token the install holds. */
  readonly license: string;
  readonly install_id: string;
  /** The install's app version. */
  readonly version: string;
  readonly seats_in_use?: number | undefined;
  /**
   * The install's Ed25519 public key. The first check-in that carries one records it; from then on
   * a check-in naming that install must carry the same key.
   */
  readonly install_public_jwk?:
    | { readonly kty: 'OKP'; readonly crv: 'Ed25519'; readonly x: string }
    | undefined;
}

/** The signed revocation list, with its main claims in clear beside it. */
export interface RevocationListView {
  /** A compact JWS (`typ` tenantry-revocations+jwt) of `{iat, seq, revoked}`. */
  list: string;
  seq: number;
  signed_at: string;
  /** How many licenses it names. */
  revoked: number;
}

/** The answer to a check-in: the signed response, and its main claims in clear beside it. */
export interface CheckInAnswer {
  /** A compact JWS (`typ` tenantry-check-in+jwt) of {@link CheckInResponseClaims}. */
  response: string;
  status: LicenseStatus;
  newest_license_id: string | null;
}

/** An install of a tenant as it last checked in. */
export interface LicenseInstallView {
  install_id: string;
  license_id: string;
  /** Where the license the install presented stands now. */
  license_status: LicenseStatus;
  /** Whether that license is the tenant's active one: false tells the install is due a newer license. */
  license_current: boolean;
  version: string;
  seats_in_use: number | null;
  first_seen_at: string;
  last_check_in_at: string;
  check_ins: number;
}

/** Days after expiry an install keeps running when the operator does not say. */
export const DEFAULT_GRACE_DAYS = 14;

type KeyRow = Selectable<LicenseKeysTable>;
type LicenseRow = Selectable<LicensesTable>;
type CheckInRow = Selectable<LicenseCheckInsTable>;

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
  /** The keys installs' usage reports pinned, which their check-ins are held to. */
  readonly reportedInstallKeys: ReportedInstallKeys;
}

/**
 * Where an install's key is pinned by its usage reports (the usage-reports feature keeps them;
 * services.ts hands its reader in, so this feature does not reach into that one). An install that
 * exported reports before it ever checked in pinned its key with the first report imported.
 */
export interface ReportedInstallKeys {
  /**
   * The key the install's imported reports are signed with, or null when none was imported; read
   * in `tx` after waiting for the install's imports under way, so that a report and a check-in
   * cannot each pin a different key unseen by the other.
   */
  pinnedKey(tx: Transaction<Schema>, tenantId: string, installId: string): Promise<InstallPublicJwk | null>;
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
   * Signs a private module's name and SHA-256 with the active license key, audited: the SDK loads
   * a module so signed only when the digest of its bytes matches (`loadLicensedModule`). The
   * module itself never reaches the control plane: the caller hashes it.
   */
  async signModule(
    ctx: RequestContext,
    input: { module: string; sha256: string },
  ): Promise<Result<ModuleSignatureView, DomainError>> {
    return this.#o.db.transaction().execute(async (tx) => {
      const active = await activeKey(tx);
      if (!active.ok) return active;
      const key = active.value;
      const now = this.#o.clock.now();
      const sha256 = input.sha256.toLowerCase();
      const signature = await signModule(
        { module: input.module, sha256, iat: Math.floor(now.getTime() / 1000) },
        await this.#open(key),
      );
      await recordChange(tx, ctx, {
        action: 'license_key.module_signed',
        tenantId: null,
        target: { type: 'license_key', id: key.kid },
        data: { module: input.module, sha256 },
        occurredAt: now,
      });
      return ok({ signature, kid: key.kid, module: input.module, sha256, signed_at: now.toISOString() });
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
        if (row.private_key_sealed === null) continue;
        const resealed = await this.#o.secrets.reseal(purpose(row.kid), row.private_key_sealed);
        if (resealed === null) continue;
        await tx
          .updateTable('license_keys')
          .set({ private_key_sealed: resealed })
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
    const entitled = await this.#o.entitlements.fresh(record.id);
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
      const active = await activeKey(tx);
      if (!active.ok) return active;
      const key = active.value;
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
      const signed = await signLicense(claims, await this.#open(key));
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
  ): Promise<Result<Page<LicenseView>, DomainError>> {
    let before: number | undefined;
    if (page.cursor !== undefined) {
      before = /^[1-9][0-9]{0,9}$/.test(page.cursor) ? Number(page.cursor) : undefined;
      if (before === undefined) {
        return unknownCursor();
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
    return ok(
      keysetPage(
        rows,
        page.limit,
        (row) => licenseView(row, now),
        (row) => String(row.seq),
      ),
    );
  }

  /** One license, with its token. */
  async get(id: string): Promise<Result<IssuedLicense, DomainError>> {
    const row = await this.#o.db.selectFrom('licenses').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return licenseNotFound(id);
    return ok({ ...licenseView(row, this.#o.clock.now()), token: row.token });
  }

  /**
   * A license of tenant `tenantRef` (id or slug), with its token: what the tenant's own members
   * download. Another tenant's license is not found, as a missing one is.
   */
  async getOfTenant(tenantRef: string, id: string): Promise<Result<IssuedLicense, DomainError>> {
    const record = await this.#o.tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    const row = await this.#o.db
      .selectFrom('licenses')
      .selectAll()
      .where('id', '=', id)
      .where('tenant_id', '=', record.id)
      .executeTakeFirst();
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
      // In the same transaction: a list signed after this commits names the license and has a higher seq.
      await tx
        .updateTable('license_revocation_seq')
        .set((eb) => ({ seq: eb('seq', '+', 1) }))
        .execute();
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

  /**
   * An install checks in with its license, which is its credential: the token must verify against
   * this control plane's license keys (all published ones, retired too) and be one it issued.
   * Records the install's check-in (last seen, version, seats) with its audit entry and
   * `license.checked_in` event in one transaction, and answers with a response signed by the
   * active license key: where the license stands now and the tenant's newest active license.
   */
  async checkIn(ctx: RequestContext, input: CheckInInput): Promise<Result<CheckInAnswer, DomainError>> {
    const now = this.#o.clock.now();
    const verified = await verifyLicense(input.license, await this.keyring(), { now });
    if (!verified.ok) {
      return fail('license_invalid', `the license is refused: ${verified.error.message}`, {
        details: { refusal: verified.error.code },
      });
    }
    const { claims } = verified.value;
    // A license bound to one install speaks for no other: a copy checking in elsewhere is refused,
    // as the install's own guard refuses it.
    if (claims.install !== null && claims.install !== input.install_id) {
      return fail(
        'license_invalid',
        `license ${claims.jti} is bound to install "${claims.install}", not "${input.install_id}"`,
        { details: { refusal: 'install_mismatch' } },
      );
    }
    const presented = input.install_public_jwk;
    return this.#o.db.transaction().execute(async (tx) => {
      // One check-in of an install at a time, so that its first key cannot be raced by another.
      await sql`select pg_advisory_xact_lock(hashtext(${`license_check_in:${claims.customer.id}:${input.install_id}`}))`.execute(
        tx,
      );
      const license = await tx
        .selectFrom('licenses')
        .selectAll()
        .where('id', '=', claims.jti)
        .where('tenant_id', '=', claims.customer.id)
        .executeTakeFirst();
      // Signed with a key of ours but not on record: its tenant was purged (the rows cascade).
      if (!license) {
        return fail('license_invalid', `license ${claims.jti} is not one this control plane has on record`, {
          details: { refusal: 'unknown_license' },
        });
      }
      const recorded = await this.checkedInKey(tx, license.tenant_id, input.install_id);
      if (recorded !== null && recorded.x !== presented?.x) {
        return fail(
          'install_key_mismatch',
          `install "${input.install_id}" checked in before with another key (x ${recorded.x}); this check-in ${presented === undefined ? 'carries no key' : `carries x ${presented.x}`}`,
        );
      }
      // The same install's reports pinned a key too when it exported before checking in: a check-in
      // with another key is a copy of the license speaking for it (and its reports would be refused).
      const reported = await this.#o.reportedInstallKeys.pinnedKey(tx, license.tenant_id, input.install_id);
      if (reported !== null && reported.x !== presented?.x) {
        return fail(
          'install_key_mismatch',
          `install "${input.install_id}" pinned another key with its usage reports (x ${reported.x}); this check-in ${presented === undefined ? 'carries no key' : `carries x ${presented.x}`}`,
        );
      }
      const installKey: InstallPublicJwk | null =
        presented === undefined ? null : { kty: 'OKP', crv: 'Ed25519', x: presented.x };
      await tx
        .insertInto('license_check_ins')
        .values({
          tenant_id: license.tenant_id,
          install_id: input.install_id,
          license_id: license.id,
          version: input.version,
          seats_in_use: input.seats_in_use ?? null,
          first_seen_at: now,
          last_check_in_at: now,
          install_public_jwk: installKey === null ? null : JSON.stringify(installKey),
        })
        .onConflict((oc) =>
          oc.columns(['tenant_id', 'install_id']).doUpdateSet((eb) => ({
            license_id: eb.ref('excluded.license_id'),
            version: eb.ref('excluded.version'),
            // A check-in that counted no seats (an SDK opening, before the app's data can be
            // read) leaves the last count reported.
            seats_in_use: sql`coalesce(${eb.ref('excluded.seats_in_use')}, ${sql.ref('license_check_ins.seats_in_use')})`,
            last_check_in_at: eb.ref('excluded.last_check_in_at'),
            check_ins: sql<number>`${sql.ref('license_check_ins.check_ins')} + 1`,
            // The first key recorded stays (checked above); an install that had none may add one.
            install_public_jwk: sql`coalesce(${sql.ref('license_check_ins.install_public_jwk')}, ${eb.ref('excluded.install_public_jwk')})`,
          })),
        )
        .execute();
      const newest = await tx
        .selectFrom('licenses')
        .select(['id', 'token'])
        .where('tenant_id', '=', license.tenant_id)
        .where('status', '=', 'active')
        .orderBy('seq', 'desc')
        .executeTakeFirst();
      const status = licenseStatus(license.status, license.expires_at, now);
      const seatsLicensed = claims.seats;
      await recordChange(tx, ctx, {
        action: 'license.checked_in',
        tenantId: license.tenant_id,
        target: { type: 'license', id: license.id },
        data: {
          license_id: license.id,
          tenant_id: license.tenant_id,
          install_id: input.install_id,
          version: input.version,
          seats_in_use: input.seats_in_use ?? null,
          seats_licensed: seatsLicensed,
        },
        occurredAt: now,
      });
      const key = await tx
        .selectFrom('license_keys')
        .select(['kid', 'private_key_sealed'])
        .where('status', '=', 'active')
        .executeTakeFirstOrThrow();
      const answer: CheckInResponseClaims = {
        license_id: license.id,
        status,
        newest: newest?.token ?? null,
        install_id: input.install_id,
        iat: Math.floor(now.getTime() / 1000),
        seats_licensed: seatsLicensed,
        revoked_at:
          license.status === 'revoked' && license.revoked_at !== null
            ? Math.floor(license.revoked_at.getTime() / 1000)
            : null,
      };
      return ok({
        response: await signCheckInResponse(answer, await this.#open(key)),
        status,
        newest_license_id: newest?.id ?? null,
      });
    });
  }

  /**
   * The revocation list for air-gapped installs, signed now with the active license key: every
   * license revoked, of every tenant, oldest revocation first, and the list's seq, which each
   * revocation moves up. Read under a share lock of the seq row, so the seq and the licenses named agree.
   */
  async revocationList(): Promise<Result<RevocationListView, DomainError>> {
    return this.#o.db.transaction().execute(async (tx) => {
      const active = await activeKey(tx);
      if (!active.ok) return active;
      const key = active.value;
      // Each revocation updates this row as it commits: sharing its lock waits for one under way
      // and holds off the next, so the licenses read below are exactly those this seq counts.
      const { seq } = await tx
        .selectFrom('license_revocation_seq')
        .select('seq')
        .forShare()
        .executeTakeFirstOrThrow();
      const rows = await tx
        .selectFrom('licenses')
        .select(['id', 'revoked_at'])
        .where('status', '=', 'revoked')
        .orderBy('revoked_at')
        .orderBy('id')
        .execute();
      const revoked = rows.map((row) => ({
        license_id: row.id,
        // Set in the same update as the status.
        revoked_at: Math.floor((row.revoked_at as Date).getTime() / 1000),
      }));
      const now = this.#o.clock.now();
      const iat = Math.floor(now.getTime() / 1000);
      const list = await signRevocationList({ iat, seq, revoked }, await this.#open(key));
      return ok({ list, seq, signed_at: new Date(iat * 1000).toISOString(), revoked: revoked.length });
    });
  }

  /**
   * The keyring licenses of this control plane verify against: every published key, retired ones
   * too, as the licenses they signed stay valid.
   */
  async keyring(): Promise<LicenseKeyring> {
    const published = await this.#o.db.selectFrom('license_keys').select('public_jwk').execute();
    const keyring = licenseKeyring(published.map((row) => row.public_jwk));
    // The keys are this server's own, checked when made: one refused is a broken database.
    if (!keyring.ok) throw new Error(`a stored license key is refused: ${keyring.error.message}`);
    return keyring.value;
  }

  /** Whether license `licenseId` of tenant `tenantId` is on record (a purged tenant's are not). */
  async onRecord(licenseId: string, tenantId: string): Promise<boolean> {
    const row = await this.#o.db
      .selectFrom('licenses')
      .select('id')
      .where('id', '=', licenseId)
      .where('tenant_id', '=', tenantId)
      .executeTakeFirst();
    return row !== undefined;
  }

  /**
   * The key install `installId` of the tenant checked in with, or null when it never checked in
   * with one; read in `tx`, for the usage-reports feature, whose reports are held to it.
   */
  async checkedInKey(
    tx: Transaction<Schema>,
    tenantId: string,
    installId: string,
  ): Promise<InstallPublicJwk | null> {
    const row = await tx
      .selectFrom('license_check_ins')
      .select('install_public_jwk')
      .where('tenant_id', '=', tenantId)
      .where('install_id', '=', installId)
      .executeTakeFirst();
    return row?.install_public_jwk ?? null;
  }

  /** A tenant's installs as they last checked in, by install id, one page at a time. */
  async listInstalls(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined },
  ): Promise<Result<Page<LicenseInstallView>, DomainError>> {
    const record = await this.#o.tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    let query = this.#o.db
      .selectFrom('license_check_ins as c')
      .innerJoin('licenses as l', 'l.id', 'c.license_id')
      .selectAll('c')
      .select(['l.status as license_row_status', 'l.expires_at as license_expires_at'])
      .where('c.tenant_id', '=', record.id)
      .orderBy('c.install_id')
      .limit(page.limit + 1);
    // The cursor is the last install id of the previous page: install ids are unique per tenant.
    if (page.cursor !== undefined) query = query.where('c.install_id', '>', page.cursor);
    const rows = await query.execute();
    const now = this.#o.clock.now();
    return ok(
      keysetPage(
        rows,
        page.limit,
        (row) => installView(row, licenseStatus(row.license_row_status, row.license_expires_at, now)),
        (row) => row.install_id,
      ),
    );
  }

  /** The active key's private half, opened, to sign with. */
  async #open(key: Pick<KeyRow, 'kid' | 'private_key_sealed'>): Promise<{ kid: string; privateJwk: JWK }> {
    if (key.private_key_sealed === null) throw new Error(`active license key ${key.kid} has no private half`);
    const privateJwk = JSON.parse(
      await this.#o.secrets.open(purpose(key.kid), key.private_key_sealed),
    ) as JWK;
    return { kid: key.kid, privateJwk };
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
    status: licenseStatus(row.status, row.expires_at, now),
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

/** A license's status as the API shows it: `expired` follows from the clock, never stored. */
function licenseStatus(stored: LicenseRow['status'], expiresAt: Date, now: Date): LicenseStatus {
  return stored === 'active' && expiresAt <= now ? 'expired' : stored;
}

function installView(row: CheckInRow, licenseStatusNow: LicenseStatus): LicenseInstallView {
  return {
    install_id: row.install_id,
    license_id: row.license_id,
    license_status: licenseStatusNow,
    license_current: licenseStatusNow === 'active',
    version: row.version,
    seats_in_use: row.seats_in_use,
    first_seen_at: row.first_seen_at.toISOString(),
    last_check_in_at: row.last_check_in_at.toISOString(),
    check_ins: row.check_ins,
  };
}

/** The active license signing key (sealed), or `license_key_missing` before any was generated. */
async function activeKey(
  tx: Transaction<Schema>,
): Promise<Result<Pick<KeyRow, 'kid' | 'private_key_sealed'>, DomainError>> {
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
  return ok(key);
}
