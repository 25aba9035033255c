import { createHash } from 'node:crypto';
import {
  type AccessCatalogue,
  canonicalJson,
  type DomainError,
  EMPTY_ACCESS_CATALOGUE,
  type FieldError,
  fail,
  ok,
  parseAccessFile,
  type Result,
  TENANT_ADMIN_PERMISSIONS,
} from '@tenantry/core';
import { type Kysely, sql } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Schema } from '../db/index.ts';
import { readPlanFileSource } from '../plans/index.ts';
import type { RequestContext } from '../request-context.ts';

/** The access file in force, as the API shows it. */
export interface AccessView {
  /** 0 until an access file is applied. */
  version: number;
  checksum: string | null;
  created_at: string | null;
  /** The vendor's permissions and their descriptions. */
  permissions: Record<string, string>;
  /** The vendor permissions each built-in role holds. */
  roles: Record<string, string[]>;
  /** Tenantry's own tenant-admin permissions, which every tenant's roles may also hold. */
  tenant_admin_permissions: Record<string, string>;
}

/** What applying an access file did (or would do). */
export interface AccessApplyResult {
  dry_run: boolean;
  change: 'created' | 'unchanged';
  version: number;
  previous_version: number | null;
}

function checksumOf(catalogue: AccessCatalogue): string {
  return createHash('sha256').update(canonicalJson(catalogue)).digest('hex');
}

/**
 * The vendor's access file: the permissions its app checks and what each built-in role holds,
 * applied like a plan file (every error with its line, nothing stored on error) and versioned, so
 * that each change is one audited version and the log can say which catalogue was in force.
 */
export class AccessService {
  readonly #db: Kysely<Schema>;
  readonly #clock: Clock;

  constructor(db: Kysely<Schema>, clock: Clock) {
    this.#db = db;
    this.#clock = clock;
  }

  /**
   * Validates the whole access file (YAML, or JSON, which is YAML too) and stores it as a new
   * version when it differs from the one in force. Applies are serialised by a lock, so two at
   * once cannot both make version n+1.
   */
  async apply(
    ctx: RequestContext,
    input: { source: string; filename?: string | undefined; dryRun: boolean },
  ): Promise<Result<AccessApplyResult, DomainError>> {
    const read = readPlanFileSource(input.source);
    if (!read.ok) return invalid(input.filename, read.errors);
    const parsed = parseAccessFile(read.source.data);
    if (!parsed.ok) {
      return invalid(
        input.filename,
        parsed.error.map((issue) => read.source.locate(issue.path, issue.message)),
      );
    }
    const catalogue = parsed.value;
    const checksum = checksumOf(catalogue);
    return this.#db.transaction().execute(async (tx) => {
      await sql`select pg_advisory_xact_lock(hashtext('tenantry.access_catalogues'))`.execute(tx);
      const latest = await tx
        .selectFrom('access_catalogues')
        .select(['version', 'checksum'])
        .orderBy('version', 'desc')
        .limit(1)
        .executeTakeFirst();
      const previous = latest?.version ?? null;
      if (latest?.checksum === checksum) {
        return ok({
          dry_run: input.dryRun,
          change: 'unchanged' as const,
          version: latest.version,
          previous_version: previous,
        });
      }
      const version = (latest?.version ?? 0) + 1;
      if (!input.dryRun) {
        await tx
          .insertInto('access_catalogues')
          .values({ version, catalogue: JSON.stringify(catalogue), checksum })
          .execute();
        await recordChange(tx, ctx, {
          action: 'access.applied',
          tenantId: null,
          target: { type: 'access_catalogue', id: String(version) },
          data: {
            version,
            previous_version: previous,
            checksum,
            permissions: Object.keys(catalogue.permissions),
            ...(input.filename === undefined ? {} : { filename: input.filename }),
          },
          occurredAt: this.#clock.now(),
        });
      }
      return ok({ dry_run: input.dryRun, change: 'created' as const, version, previous_version: previous });
    });
  }

  /** The catalogue in force: the latest version, or no vendor permissions before any apply. */
  async catalogue(db: Kysely<Schema> = this.#db): Promise<AccessCatalogue> {
    const row = await db
      .selectFrom('access_catalogues')
      .select('catalogue')
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row?.catalogue ?? EMPTY_ACCESS_CATALOGUE;
  }

  /** The access file in force, with Tenantry's own permissions beside the vendor's. */
  async current(): Promise<AccessView> {
    const row = await this.#db
      .selectFrom('access_catalogues')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    const catalogue = row?.catalogue ?? EMPTY_ACCESS_CATALOGUE;
    return {
      version: row?.version ?? 0,
      checksum: row?.checksum ?? null,
      created_at: row?.created_at.toISOString() ?? null,
      permissions: { ...catalogue.permissions },
      roles: Object.fromEntries(Object.entries(catalogue.roles).map(([k, v]) => [k, [...v]])),
      tenant_admin_permissions: { ...TENANT_ADMIN_PERMISSIONS },
    };
  }
}

function invalid(filename: string | undefined, errors: FieldError[]): Result<never, DomainError> {
  const where = filename ? ` in ${filename}` : '';
  return fail(
    'validation_failed',
    `the access file has ${errors.length} error${errors.length === 1 ? '' : 's'}${where}; nothing was stored`,
    { errors },
  );
}
