import { Readable } from 'node:stream';
import { type DomainError, ok, type Page, type Result } from '@tenantry/core';
import { csvRow } from '../http/index.ts';
import type { TenantFilter } from './tenant-service.ts';
import type { TenantView } from './tenant-view.ts';

/** The columns of the tenant list's CSV, in order: what the console's list shows, and more. */
export const TENANT_CSV_COLUMNS = [
  'id',
  'slug',
  'name',
  'state',
  'state_reason',
  'plan',
  'plan_version',
  'seats',
  'placement',
  'data_plane',
  'data_plane_health',
  'region',
  'created_at',
] as const;

/** Rows read per query: a page of the API's own cursor, larger than a screen's. */
export const TENANT_CSV_PAGE = 500;

type ListPage = (
  filter: TenantFilter,
  page: { limit: number; cursor?: string | undefined },
) => Promise<Result<Page<TenantView>, DomainError>>;

function tenantCsvRow(t: TenantView): string {
  return csvRow([
    t.id,
    t.slug,
    t.name,
    t.state,
    t.state_reason,
    t.plan.key,
    t.plan.version,
    t.seats,
    t.placement,
    t.data_plane,
    t.data_plane_health,
    t.region,
    t.created_at,
  ]);
}

/**
 * Every tenant the filter matches as CSV, read by the list's cursor a page at a time, so that a
 * fleet of any size is never held in memory: the stream asks for the next page only when the
 * client has taken the last. The first page is read before the stream is made, so that a bad
 * cursor is a problem answered with its status rather than a broken download.
 */
export async function tenantsCsv(
  list: ListPage,
  filter: TenantFilter,
  cursor: string | undefined,
): Promise<Result<Readable, DomainError>> {
  const first = await list(filter, { limit: TENANT_CSV_PAGE, cursor });
  if (!first.ok) return first;
  const firstPage = first.value;
  async function* lines(): AsyncGenerator<string> {
    yield csvRow(TENANT_CSV_COLUMNS);
    let page = firstPage;
    for (;;) {
      yield page.data.map(tenantCsvRow).join('');
      if (page.next_cursor === null) return;
      const next = await list(filter, { limit: TENANT_CSV_PAGE, cursor: page.next_cursor });
      // A cursor this loop was just given is always valid; a failure here is the database's,
      // and ending the stream with it breaks the download rather than cutting it short silently.
      if (!next.ok) throw new Error(`reading the next page of tenants failed: ${next.error.detail}`);
      page = next.value;
    }
  }
  return ok(Readable.from(lines()));
}
