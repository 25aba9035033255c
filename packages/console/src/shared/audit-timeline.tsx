import { useInfiniteQuery } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { callOf, get } from './api.ts';
import { ApiPanel, ErrorNotice, Loading } from './components/index.ts';
import type { TenantRef } from './tenants.ts';

type AuditEntry = Schemas['AuditEntry'];
const PAGE = 50;

/**
 * The tenant's audit log (the operator's tenant page and the portal's audit page), newest first (`GET /v1/tenants/{id}/audit`), 50 entries a page by the
 * API's cursor, **Older** reading the next. Each entry opens to what it recorded. Reading the log
 * is itself audited: each page read adds an `audit.read` entry to the tenant's own chain, which
 * the next refresh shows at the top.
 */
export function TenantTimeline({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const pages = useInfiniteQuery({
    queryKey: ['audit', tenant.id],
    queryFn: ({ pageParam }) =>
      get('/v1/tenants/{id}/audit', { path: { id: tenant.id }, query: { ...query, cursor: pageParam } }),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
  const entries = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const older = () => {
    pages.fetchNextPage().catch((error: unknown) => console.error('could not read older entries', error));
  };
  return (
    <section aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      <button type="button" onClick={() => pages.refetch()} disabled={pages.isFetching}>
        Refresh
      </button>
      {pages.isPending ? <Loading what="the audit log" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {entries.length === 0 ? (
            <p>No audit entry for this tenant.</p>
          ) : (
            <ol className="timeline" data-testid="timeline">
              {entries.map((entry) => (
                <TimelineEntry key={entry.id} entry={entry} />
              ))}
            </ol>
          )}
          {pages.hasNextPage ? (
            <button type="button" onClick={older} disabled={pages.isFetchingNextPage}>
              {pages.isFetchingNextPage ? 'Loading…' : 'Older'}
            </button>
          ) : null}
          <ApiPanel
            call={callOf('/v1/tenants/{id}/audit', { path: { id: tenant.shown }, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}

/** One entry: when, who, what and on what; opened, the data, before and after it recorded. */
function TimelineEntry({ entry }: { entry: AuditEntry }) {
  return (
    <li>
      <details>
        <summary>
          <time dateTime={entry.occurred_at}>{entry.occurred_at}</time>{' '}
          <span className="who">
            {entry.actor.type} {entry.actor.id}
          </span>{' '}
          <strong data-testid="audit-action">{entry.action}</strong> {entry.target.type} {entry.target.id}
        </summary>
        <pre>
          {JSON.stringify(
            {
              data: entry.data,
              before: entry.before,
              after: entry.after,
              request_id: entry.request_id,
              seq: entry.seq,
            },
            null,
            2,
          )}
        </pre>
      </details>
    </li>
  );
}
