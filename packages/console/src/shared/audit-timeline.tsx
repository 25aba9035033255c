import { useQuery } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { callOf, get } from './api.ts';
import { useCursorPages } from './components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from './components/index.ts';
import type { TenantRef } from './tenants.ts';
import {
  mergeTimeline,
  type TimelineItem,
  type TimelineSource,
  type WebhookFailure,
  webhookFailures,
} from './timeline-merge.ts';

type AuditEntry = Schemas['AuditEntry'];
const PAGE = 50;
/** The deliveries read per endpoint for their failures: the latest ones. */
const DELIVERIES = 100;

const SOURCE_NAMES: Record<TimelineSource, string> = {
  audit: 'audit',
  threshold: 'threshold',
  invoice: 'invoice',
  license: 'license check-in',
  webhook: 'webhook failure',
};

/**
 * The failed attempts of the latest deliveries of each of the tenant's own webhook endpoints
 * (`/v1/tenants/{id}/webhook-endpoints`: the operator's staff and the tenant's members who manage
 * its webhooks read the same routes).
 */
async function readWebhookFailures(tenant: TenantRef) {
  const endpoints = await get('/v1/tenants/{id}/webhook-endpoints', {
    path: { id: tenant.id },
    query: { limit: 100 },
  });
  const pages = await Promise.all(
    endpoints.data.map((endpoint) =>
      get('/v1/tenants/{id}/webhook-endpoints/{endpoint_id}/deliveries', {
        path: { id: tenant.id, endpoint_id: endpoint.id },
        query: { limit: DELIVERIES },
      }),
    ),
  );
  return {
    endpoints,
    failures: endpoints.data.flatMap((endpoint, index) =>
      webhookFailures(endpoint.url, pages[index]?.data ?? []),
    ),
  };
}

/**
 * The tenant's timeline (the operator's tenant page and the portal's audit page), newest first:
 * its audit log (`GET /v1/tenants/{id}/audit`), 50 entries a page by the API's cursor, **Older**
 * reading the next, in which threshold crossings, invoices and license check-ins are marked as
 * such; and, with `webhooks` (a reader who may list the tenant's endpoints), the failed attempts of
 * its webhook deliveries.
 * Each item opens to what it recorded. Reading the log is itself audited: each page read adds an
 * `audit.read` entry to the tenant's own chain, which the next refresh shows at the top.
 */
export function TenantTimeline({ tenant, webhooks: withWebhooks }: { tenant: TenantRef; webhooks: boolean }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(['audit', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/audit', { path: { id: tenant.id }, query: { ...query, cursor } }),
  );
  const webhooks = useQuery({
    queryKey: ['timeline-webhooks', tenant.id],
    queryFn: () => readWebhookFailures(tenant),
    enabled: withWebhooks,
  });
  const entries = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const items = mergeTimeline(entries, !pages.hasNextPage, webhooks.data?.failures ?? []);
  const refresh = () => {
    for (const query of withWebhooks ? [pages, webhooks] : [pages]) {
      query.refetch().catch((error: unknown) => console.error('could not refresh the timeline', error));
    }
  };
  return (
    <section aria-labelledby="timeline-heading">
      <h2 id="timeline-heading">Timeline</h2>
      <button type="button" onClick={refresh} disabled={pages.isFetching || webhooks.isFetching}>
        Refresh
      </button>
      {pages.isPending ? <Loading what="the audit log" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {webhooks.isError ? <ErrorNotice error={webhooks.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {items.length === 0 ? (
            <p>No audit entry for this tenant.</p>
          ) : (
            <ol className="timeline" data-testid="timeline">
              {items.map((item) =>
                item.source === 'webhook' ? (
                  <FailureEntry key={`${item.failure.delivery.id}-${item.at}`} failure={item.failure} />
                ) : (
                  <TimelineEntry key={item.entry.id} item={item} />
                ),
              )}
            </ol>
          )}
          <LoadMore pages={pages} what="audit entries" label="Older" />
          <ApiPanel
            call={callOf('/v1/tenants/{id}/audit', { path: { id: tenant.shown }, query })}
            data={pages.data.pages}
          />
          {webhooks.data === undefined ? null : (
            <ApiPanel
              label="API: webhook endpoints"
              call={callOf('/v1/tenants/{id}/webhook-endpoints', {
                path: { id: tenant.shown },
                query: { limit: 100 },
              })}
              data={webhooks.data}
            />
          )}
        </>
      )}
    </section>
  );
}

/** One entry: when, its source, who, what and on what; opened, the data, before and after it recorded. */
function TimelineEntry({ item }: { item: Extract<TimelineItem, { entry: AuditEntry }> }) {
  const { entry } = item;
  return (
    <li data-source={item.source}>
      <details>
        <summary>
          <time dateTime={entry.occurred_at}>{entry.occurred_at}</time>{' '}
          <span className="source" data-testid="timeline-source">
            [{SOURCE_NAMES[item.source]}]
          </span>{' '}
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

/** A failed webhook attempt: when, to where, for which event; opened, the answer and the delivery. */
function FailureEntry({ failure }: { failure: WebhookFailure }) {
  return (
    <li data-source="webhook">
      <details>
        <summary>
          <time dateTime={failure.at}>{failure.at}</time>{' '}
          <span className="source" data-testid="timeline-source">
            [{SOURCE_NAMES.webhook}]
          </span>{' '}
          <strong data-testid="webhook-failure">{failure.delivery.event_type}</strong> to{' '}
          {failure.endpointUrl}: {failure.status ?? 'no answer'}
        </summary>
        <pre>
          {JSON.stringify(
            {
              error: failure.error,
              status: failure.status,
              delivery: failure.delivery.id,
              state: failure.delivery.state,
            },
            null,
            2,
          )}
        </pre>
      </details>
    </li>
  );
}
