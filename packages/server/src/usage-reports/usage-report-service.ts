import {
  type DomainError,
  fail,
  type InstallPublicKey,
  keysetPage,
  ok,
  type Page,
  type Result,
  type UsageReportClaims,
  unknownCursor,
  verifyUsageReport,
} from '@tenantry/core';
import { calculateJwkThumbprint } from 'jose';
import { type Kysely, type Selectable, sql, type Transaction } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import { type Schema, type UsageReportsTable, withRetry } from '../db/index.ts';
import type { LicenseService } from '../licenses/index.ts';
import type { RequestContext } from '../request-context.ts';
import { type TenantService, tenantNotFound } from '../tenants/index.ts';
import type { UsageIngest } from '../usage/index.ts';

/** An imported usage report as the API shows it. */
export interface UsageReportView {
  tenant_id: string;
  install_id: string;
  seq: number;
  report_id: string;
  /** SHA-256 (hex) of the report token: the next report's `previous`. */
  digest: string;
  /** RFC 7638 thumbprint of the install key that signed it (pinned by the install's first report). */
  key_thumbprint: string;
  license_id: string;
  period: { from: string; to: string };
  event_count: number;
  totals: Record<string, { sum: number; count: number }>;
  created_at: string;
  imported_at: string;
}

/** What an import did. */
export interface ImportedReport {
  report: UsageReportView;
  /** The same report was imported before: nothing was written this time. */
  already_imported: boolean;
  /** Events stored by this import. */
  accepted: number;
  /** Events of the report whose id the tenant already had: not counted again. */
  duplicates: number;
}

export interface UsageReportServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly tenants: TenantService;
  /** Its keyring verifies the license a report carries; its licenses table says whose it is. */
  readonly licenses: LicenseService;
  /** Stores the events exactly as `POST /v1/events` does. */
  readonly ingest: UsageIngest;
}

type ReportRow = Selectable<UsageReportsTable>;

/**
 * Imports the usage reports self-hosted installs sign offline. A report is verified (its install's
 * signature, the vendor's license it carries, its content), placed in its install's chain (the
 * next `seq`, `previous` the digest of the report before, its period starting where that one's
 * ended, the install's pinned key), and its events stored through the ingest path, so they count
 * and are billed exactly like SaaS usage; the report row and its audit entry and event commit
 * with them. Importing a report twice changes nothing.
 */
export class UsageReportService {
  readonly #o: UsageReportServiceOptions;

  constructor(options: UsageReportServiceOptions) {
    this.#o = options;
  }

  /**
   * Imports a report token. `tenant` (id or slug), when given, is the tenant the operator expects
   * the report to be from: a report whose license was issued to another is refused.
   */
  async import(
    ctx: RequestContext,
    input: { readonly report: string; readonly tenant?: string | undefined },
  ): Promise<Result<ImportedReport, DomainError>> {
    const now = this.#o.clock.now();
    const verified = await verifyUsageReport(input.report, {
      licenseKeyring: await this.#o.licenses.keyring(),
      now,
    });
    if (!verified.ok) return invalid(verified.error.code, verified.error.message);
    const { claims, digest, key_thumbprint: thumbprint } = verified.value;
    const license = verified.value.license.claims;
    const tenantId = license.customer.id;
    if (input.tenant !== undefined) {
      const named = await this.#o.tenants.record(input.tenant);
      if (!named) return tenantNotFound(input.tenant);
      if (named.id !== tenantId) {
        return invalid(
          'other_tenant',
          `the report's license ${license.jti} was issued to tenant ${tenantId}, not to ${named.id}`,
        );
      }
    }
    // Signed with a key of ours but not on record: its tenant was purged (the rows cascade).
    if (!(await this.#o.licenses.onRecord(license.jti, tenantId))) {
      return invalid(
        'unknown_license',
        `the report's license ${license.jti} is not one this control plane has on record`,
      );
    }
    // Checked before the transaction, as ingestion checks a batch; what is wrong with an event is
    // said only once the chain is known to take the report (a replay is answered as one).
    const events = await this.#o.ingest.check(
      claims.events.map((event) => ({ ...event, tenant: tenantId })),
      'tenantry',
    );

    const result = await withRetry(() =>
      this.#o.db.transaction().execute(async (tx) => {
        await lockInstall(tx, tenantId, claims.install_id);
        const rows = await tx
          .selectFrom('usage_reports')
          .selectAll()
          .where('tenant_id', '=', tenantId)
          .where('install_id', '=', claims.install_id)
          .where((eb) =>
            eb.or([
              eb('seq', 'in', [claims.seq - 1, claims.seq]),
              eb(
                'seq',
                '=',
                eb
                  .selectFrom('usage_reports')
                  .select((s) => s.fn.max('seq').as('seq'))
                  .where('tenant_id', '=', tenantId)
                  .where('install_id', '=', claims.install_id),
              ),
            ]),
          )
          .orderBy('seq')
          .execute();
        const same = rows.find((row) => row.seq === claims.seq);
        if (same?.digest === digest) {
          return ok<ImportedReport>({
            report: reportView(same),
            already_imported: true,
            accepted: 0,
            duplicates: 0,
          });
        }
        const last = rows.at(-1);
        // The key the install checked in with, if it did: the same install, so the same key.
        const checkedIn = await this.#o.licenses.checkedInKey(tx, tenantId, claims.install_id);
        const placed = await place(claims, digest, thumbprint, same, last, checkedIn);
        if (!placed.ok) return placed;
        if (events.rejected.length > 0) {
          return fail(
            'validation_failed',
            `${events.rejected.length} event(s) of the report are refused as POST /v1/events would refuse them; nothing was imported`,
            {
              errors: events.rejected.map((r) => ({ path: `report.events.${r.index}`, message: r.reason })),
              details: { rejected: events.rejected },
            },
          );
        }
        const accepted = await this.#o.ingest.storeIn(tx, events);
        const row = await tx
          .insertInto('usage_reports')
          .values({
            tenant_id: tenantId,
            install_id: claims.install_id,
            seq: claims.seq,
            report_id: claims.report_id,
            digest,
            install_key: JSON.stringify(claims.install_key),
            key_thumbprint: thumbprint,
            license_id: license.jti,
            period_from: new Date(claims.period.from),
            period_to: new Date(claims.period.to),
            event_count: claims.events.length,
            totals: JSON.stringify(claims.totals),
            created_at: new Date(claims.created_at),
            imported_at: now,
          })
          .returningAll()
          .executeTakeFirstOrThrow();
        const duplicates = claims.events.length - accepted;
        await recordChange(tx, ctx, {
          action: 'usage_report.imported',
          tenantId,
          target: { type: 'usage_report', id: `${claims.install_id}/${claims.seq}` },
          data: {
            tenant_id: tenantId,
            install_id: claims.install_id,
            seq: claims.seq,
            report_id: claims.report_id,
            license_id: license.jti,
            period: { from: row.period_from.toISOString(), to: row.period_to.toISOString() },
            events: claims.events.length,
            accepted,
            duplicates,
          },
          occurredAt: now,
        });
        return ok<ImportedReport>({ report: reportView(row), already_imported: false, accepted, duplicates });
      }),
    );
    if (result.ok) this.#o.ingest.announce(events, result.value.accepted);
    return result;
  }

  /** A tenant's imported reports, by install and then seq, one page at a time; optionally one install's. */
  async list(
    tenantRef: string,
    page: { limit: number; cursor?: string | undefined; install?: string | undefined },
  ): Promise<Result<Page<UsageReportView>, DomainError>> {
    let after: { install: string; seq: number } | undefined;
    if (page.cursor !== undefined) {
      after = decodeCursor(page.cursor);
      if (after === undefined) {
        return unknownCursor();
      }
    }
    const record = await this.#o.tenants.record(tenantRef);
    if (!record) return tenantNotFound(tenantRef);
    let query = this.#o.db
      .selectFrom('usage_reports')
      .selectAll()
      .where('tenant_id', '=', record.id)
      .orderBy('install_id')
      .orderBy('seq')
      .limit(page.limit + 1);
    if (page.install !== undefined) query = query.where('install_id', '=', page.install);
    if (after !== undefined) {
      const { install, seq } = after;
      query = query.where((eb) =>
        eb.or([
          eb('install_id', '>', install),
          eb.and([eb('install_id', '=', install), eb('seq', '>', seq)]),
        ]),
      );
    }
    return ok(keysetPage(await query.execute(), page.limit, reportView, encodeCursor));
  }
}

/**
 * One import per install at a time, so two cannot both take the next seq, and none while a check-in
 * reads the key the install's reports pinned ({@link pinnedInstallKey}). Tenant ids have no "/",
 * so the key names one (tenant, install) pair.
 */
async function lockInstall(tx: Transaction<Schema>, tenantId: string, installId: string): Promise<void> {
  await sql`select pg_advisory_xact_lock(hashtext('tenantry.usage_reports'), hashtext(${`${tenantId}/${installId}`}))`.execute(
    tx,
  );
}

/**
 * The key install `installId`'s imported reports are signed with (the first pinned it, and every
 * later one is held to it), or null when none was imported: for the licenses feature, whose
 * check-ins are held to it (services.ts hands it to the LicenseService). Waits in `tx` for the
 * install's imports under way, and holds them off until `tx` ends.
 */
export async function pinnedInstallKey(
  tx: Transaction<Schema>,
  tenantId: string,
  installId: string,
): Promise<InstallPublicKey | null> {
  await lockInstall(tx, tenantId, installId);
  const first = await tx
    .selectFrom('usage_reports')
    .select('install_key')
    .where('tenant_id', '=', tenantId)
    .where('install_id', '=', installId)
    .orderBy('seq')
    .limit(1)
    .executeTakeFirst();
  return first?.install_key ?? null;
}

/**
 * Whether the report takes the next place in its install's chain: signed by the pinned key and by
 * the key the install checked in with (when it did), not a second report for a taken seq, none missing before it, and linked to the one before by its
 * digest and its period.
 */
async function place(
  claims: UsageReportClaims,
  digest: string,
  thumbprint: string,
  same: ReportRow | undefined,
  last: ReportRow | undefined,
  checkedIn: InstallPublicKey | null,
): Promise<Result<void, DomainError>> {
  const install = claims.install_id;
  if (last !== undefined && !sameKey(last.install_key, claims.install_key)) {
    return invalid(
      'foreign_key',
      `the report is signed by install key ${thumbprint}, not by the key install "${install}" pinned with its first report (${await calculateJwkThumbprint(last.install_key)})`,
    );
  }
  if (checkedIn !== null && !sameKey(checkedIn, claims.install_key)) {
    return invalid(
      'foreign_key',
      `the report is signed by install key ${thumbprint}, not by the key install "${install}" checked in with (${await calculateJwkThumbprint(checkedIn)})`,
    );
  }
  if (same !== undefined) {
    return fail(
      'usage_report_fork',
      `report ${claims.seq} of install "${install}" was imported already with other content (digest ${same.digest}, this one ${digest})`,
      { details: { install_id: install, seq: claims.seq, imported_digest: same.digest } },
    );
  }
  const expected = (last?.seq ?? 0) + 1;
  if (claims.seq > expected) {
    const missing =
      expected === claims.seq - 1 ? `report ${expected} is` : `reports ${expected} to ${claims.seq - 1} are`;
    return fail(
      'usage_report_gap',
      `report ${claims.seq} of install "${install}" cannot be imported yet: ${missing} missing; import them first`,
      { details: { install_id: install, expected_seq: expected } },
    );
  }
  if (last === undefined) return ok(undefined);
  if (claims.previous !== last.digest) {
    return fail(
      'usage_report_fork',
      `report ${claims.seq} of install "${install}" follows a report ${last.seq} other than the one imported (its previous is ${claims.previous}, the imported one's digest ${last.digest})`,
      { details: { install_id: install, seq: claims.seq, imported_digest: last.digest } },
    );
  }
  if (Date.parse(claims.period.from) !== last.period_to.getTime()) {
    return invalid(
      'period_not_contiguous',
      `report ${claims.seq} of install "${install}" starts at ${claims.period.from}, but report ${last.seq} ended at ${last.period_to.toISOString()}`,
    );
  }
  return ok(undefined);
}

function sameKey(pinned: InstallPublicKey, key: InstallPublicKey): boolean {
  return pinned.kty === key.kty && pinned.crv === key.crv && pinned.x === key.x;
}

function invalid(refusal: string, detail: string): { readonly ok: false; readonly error: DomainError } {
  return fail('usage_report_invalid', detail, { details: { refusal } });
}

function reportView(row: ReportRow): UsageReportView {
  return {
    tenant_id: row.tenant_id,
    install_id: row.install_id,
    seq: row.seq,
    report_id: row.report_id,
    digest: row.digest,
    key_thumbprint: row.key_thumbprint,
    license_id: row.license_id,
    period: { from: row.period_from.toISOString(), to: row.period_to.toISOString() },
    event_count: row.event_count,
    totals: row.totals,
    created_at: row.created_at.toISOString(),
    imported_at: row.imported_at.toISOString(),
  };
}

function encodeCursor(row: ReportRow): string {
  return Buffer.from(JSON.stringify({ install: row.install_id, seq: row.seq })).toString('base64url');
}

function decodeCursor(cursor: string): { install: string; seq: number } | undefined {
  try {
    const value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as {
      install?: unknown;
      seq?: unknown;
    };
    return typeof value.install === 'string' && Number.isSafeInteger(value.seq)
      ? { install: value.install, seq: value.seq as number }
      : undefined;
  } catch {
    return undefined;
  }
}
