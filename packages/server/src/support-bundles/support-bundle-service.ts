import { createHash } from 'node:crypto';
import {
  type DomainError,
  fail,
  keysetPage,
  ok,
  type Page,
  type Result,
  unknownCursor,
} from '@tenantry/core';
import { type Kysely, type Selectable, sql } from 'kysely';
import { recordChange } from '../changes/index.ts';
import type { Clock } from '../clock.ts';
import type { Config } from '../config.ts';
import { type Schema, type SupportBundlesTable, withRetry } from '../db/index.ts';
import { isId, newId } from '../ids.ts';
import type { RequestContext } from '../request-context.ts';
import { type TenantService, tenantNotFound } from '../tenants/index.ts';
import { inspectArchive } from './archive.ts';

/** A support bundle as the API lists it: what describes the archive, never its bytes. */
export interface SupportBundleView {
  id: string;
  tenant_id: string;
  description: string | null;
  size_bytes: number;
  /** SHA-256 (hex) of the archive, to check a download against. */
  sha256: string;
  uploaded_by: { type: string; id: string };
  created_at: string;
}

/** How large one bundle may be, and how many (and how many bytes of them) a tenant may keep. */
export type SupportBundleLimits = Config['supportBundles'];

export interface SupportBundleServiceOptions {
  readonly db: Kysely<Schema>;
  readonly clock: Clock;
  readonly tenants: TenantService;
  readonly limits: SupportBundleLimits;
}

type BundleRow = Omit<Selectable<SupportBundlesTable>, 'content'>;

/** The columns a list reads: everything but the archive. */
const META = [
  'tenant_id',
  'id',
  'description',
  'size_bytes',
  'sha256',
  'uploaded_by_type',
  'uploaded_by_id',
  'created_at',
] as const;

/**
 * Support bundles: the redacted tar.gz archives `tenantry support-bundle` writes, uploaded by a
 * tenant (a self-hosted customer's admin, from the portal or the CLI) and read by the vendor's
 * staff. The archive is stored as it came, once it is known to be a whole tar.gz; what it holds is
 * never unpacked to disk nor served as anything but a download, so the names inside it do not
 * matter here. A tenant keeps at most {@link SupportBundleLimits}: past them an upload is refused
 * until it deletes some, so no tenant can fill the vendor's database.
 */
export class SupportBundleService {
  readonly #o: SupportBundleServiceOptions;

  constructor(options: SupportBundleServiceOptions) {
    this.#o = options;
  }

  get limits(): SupportBundleLimits {
    return this.#o.limits;
  }

  /** Stores `content` for the tenant `tenantRef` (id or slug) once it is checked to be a tar.gz. */
  async upload(
    ctx: RequestContext,
    tenantRef: string,
    input: { readonly content: Buffer; readonly description?: string | undefined },
  ): Promise<Result<SupportBundleView, DomainError>> {
    const tenant = await this.#o.tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    const inspected = await inspectArchive(input.content);
    if (!inspected.ok) {
      return fail(
        'support_bundle_invalid',
        `${inspected.detail}; upload the .tar.gz tenantry support-bundle wrote`,
        {
          details: { refusal: inspected.refusal },
        },
      );
    }
    const now = this.#o.clock.now();
    const sha256 = createHash('sha256').update(input.content).digest('hex');
    const { perTenant, tenantBytes } = this.#o.limits;
    return withRetry(() =>
      this.#o.db.transaction().execute(async (tx) => {
        // One upload per tenant at a time, so two cannot both pass the quota check below.
        await sql`select pg_advisory_xact_lock(hashtext('tenantry.support_bundles'), hashtext(${tenant.id}))`.execute(
          tx,
        );
        const held = await tx
          .selectFrom('support_bundles')
          .select((eb) => [
            eb.fn.countAll<number>().as('count'),
            sql<number>`coalesce(sum(size_bytes), 0)::bigint`.as('bytes'),
          ])
          .where('tenant_id', '=', tenant.id)
          .executeTakeFirstOrThrow();
        const count = Number(held.count);
        const bytes = Number(held.bytes);
        if (count >= perTenant || bytes + input.content.length > tenantBytes) {
          const which =
            count >= perTenant
              ? `${count} support bundles, the most a tenant may keep (${perTenant})`
              : `${bytes} bytes of support bundles, and this one's ${input.content.length} would pass the ${tenantBytes} a tenant may keep`;
          return fail(
            'support_bundle_quota_exceeded',
            `tenant ${tenant.id} holds ${which}; delete older bundles first`,
            {
              details: {
                limit: count >= perTenant ? 'count' : 'bytes',
                held: count,
                held_bytes: bytes,
                max_count: perTenant,
                max_bytes: tenantBytes,
              },
            },
          );
        }
        const row = await tx
          .insertInto('support_bundles')
          .values({
            tenant_id: tenant.id,
            id: newId('spb', now.getTime()),
            description: input.description ?? null,
            size_bytes: input.content.length,
            sha256,
            content: input.content,
            uploaded_by_type: ctx.actor.type,
            uploaded_by_id: ctx.actor.id,
            created_at: now,
          })
          .returning(META)
          .executeTakeFirstOrThrow();
        const view = bundleView(row);
        await recordChange(tx, ctx, {
          action: 'support_bundle.uploaded',
          tenantId: tenant.id,
          target: { type: 'support_bundle', id: view.id },
          data: {
            tenant_id: tenant.id,
            bundle_id: view.id,
            size_bytes: view.size_bytes,
            sha256,
            description: view.description,
          },
          occurredAt: now,
        });
        return ok(view);
      }),
    );
  }

  /** A tenant's bundles, newest first, one page at a time; their metadata only. */
  async list(
    tenantRef: string,
    page: { readonly limit: number; readonly cursor?: string | undefined },
  ): Promise<Result<Page<SupportBundleView>, DomainError>> {
    if (page.cursor !== undefined && !isId('spb', page.cursor)) {
      return unknownCursor();
    }
    const tenant = await this.#o.tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    let query = this.#o.db
      .selectFrom('support_bundles')
      .select(META)
      .where('tenant_id', '=', tenant.id)
      .orderBy('id', 'desc')
      .limit(page.limit + 1);
    if (page.cursor !== undefined) query = query.where('id', '<', page.cursor);
    return ok(keysetPage(await query.execute(), page.limit, bundleView, (row) => row.id));
  }

  /** One bundle of the tenant, with its bytes; another tenant's is not found. */
  async download(
    tenantRef: string,
    bundleId: string,
  ): Promise<Result<{ bundle: SupportBundleView; content: Buffer }, DomainError>> {
    const tenant = await this.#o.tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    const row = await this.#o.db
      .selectFrom('support_bundles')
      .selectAll()
      .where('tenant_id', '=', tenant.id)
      .where('id', '=', bundleId)
      .executeTakeFirst();
    if (!row) return bundleNotFound(tenant.id, bundleId);
    // node-postgres reads bytea as a Buffer, PGlite as a Uint8Array: one type for the caller.
    const content = Buffer.from(row.content.buffer, row.content.byteOffset, row.content.byteLength);
    return ok({ bundle: bundleView(row), content });
  }

  /** Deletes one bundle of the tenant, which frees its place and bytes for another; answers what it was. */
  async delete(
    ctx: RequestContext,
    tenantRef: string,
    bundleId: string,
  ): Promise<Result<SupportBundleView, DomainError>> {
    const tenant = await this.#o.tenants.record(tenantRef);
    if (!tenant) return tenantNotFound(tenantRef);
    const now = this.#o.clock.now();
    return withRetry(() =>
      this.#o.db.transaction().execute(async (tx) => {
        const row = await tx
          .deleteFrom('support_bundles')
          .where('tenant_id', '=', tenant.id)
          .where('id', '=', bundleId)
          .returning(META)
          .executeTakeFirst();
        if (!row) return bundleNotFound(tenant.id, bundleId);
        await recordChange(tx, ctx, {
          action: 'support_bundle.deleted',
          tenantId: tenant.id,
          target: { type: 'support_bundle', id: row.id },
          data: { bundle_id: row.id, size_bytes: row.size_bytes, sha256: row.sha256 },
          occurredAt: now,
        });
        return ok(bundleView(row));
      }),
    );
  }
}

function bundleNotFound(
  tenantId: string,
  bundleId: string,
): { readonly ok: false; readonly error: DomainError } {
  return fail('support_bundle_not_found', `tenant ${tenantId} has no support bundle "${bundleId}"`);
}

function bundleView(row: BundleRow): SupportBundleView {
  return {
    id: row.id,
    tenant_id: row.tenant_id,
    description: row.description,
    size_bytes: row.size_bytes,
    sha256: row.sha256,
    uploaded_by: { type: row.uploaded_by_type, id: row.uploaded_by_id },
    created_at: row.created_at.toISOString(),
  };
}
