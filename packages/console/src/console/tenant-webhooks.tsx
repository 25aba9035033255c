import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { callOf, get, post } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';

type Endpoint = Schemas['WebhookEndpoint'];
type Delivery = Schemas['WebhookDelivery'];

/** Endpoints a tenant has are few; deliveries shown per endpoint are the latest ones. */
const ENDPOINTS = 100;
const DELIVERIES = 20;

/**
 * The tenant's webhook endpoints (`GET /v1/webhook-endpoints?tenant_id=`), each with its latest
 * deliveries and their attempts; a delivery that is not pending may be sent again (a new series
 * of attempts, with the same `webhook-id`, so the receiver can tell it is the same event).
 */
export function TenantWebhooks({ tenant }: { tenant: Tenant }) {
  const query = { tenant_id: tenant.id, limit: ENDPOINTS };
  const endpoints = useQuery({
    queryKey: ['webhook-endpoints', tenant.id],
    queryFn: () => get('/v1/webhook-endpoints', { query }),
  });
  return (
    <section aria-labelledby="webhooks-heading">
      <h2 id="webhooks-heading">Webhooks</h2>
      {endpoints.isPending ? <Loading what="the webhook endpoints" /> : null}
      {endpoints.isError ? <ErrorNotice error={endpoints.error} /> : null}
      {endpoints.data === undefined ? null : (
        <>
          {endpoints.data.data.length === 0 ? (
            <p data-testid="webhooks-none">The tenant has no webhook endpoint.</p>
          ) : (
            endpoints.data.data.map((endpoint) => (
              <EndpointDeliveries key={endpoint.id} endpoint={endpoint} />
            ))
          )}
          {endpoints.data.next_cursor === null ? null : (
            <p>
              More than {ENDPOINTS} endpoints: the first {ENDPOINTS} are shown; the API lists the rest by its
              cursor.
            </p>
          )}
          <ApiPanel
            label="API: webhook endpoints"
            // The filter takes the tenant's id, not its slug.
            call={callOf('/v1/webhook-endpoints', { query })}
            data={endpoints.data}
          />
        </>
      )}
    </section>
  );
}

function EndpointDeliveries({ endpoint }: { endpoint: Endpoint }) {
  const client = useQueryClient();
  const query = { limit: DELIVERIES };
  const key = ['webhook-deliveries', endpoint.id];
  const deliveries = useQuery({
    queryKey: key,
    queryFn: () => get('/v1/webhook-endpoints/{id}/deliveries', { path: { id: endpoint.id }, query }),
  });
  const replay = useMutation({
    mutationFn: (delivery: Delivery) =>
      post('/v1/webhook-deliveries/{id}/replay', { path: { id: delivery.id } }),
    onSuccess: () => {
      client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
    },
  });
  const headingId = `endpoint-${endpoint.id}`;
  return (
    <section aria-labelledby={headingId} data-testid={`endpoint-${endpoint.id}`}>
      <h3 id={headingId}>{endpoint.url}</h3>
      <p>
        {endpoint.status}
        {endpoint.disabled_reason === null ? '' : ` (${endpoint.disabled_reason})`};{' '}
        {endpoint.event_types.length === 0 ? 'every event type' : endpoint.event_types.join(', ')}
        {endpoint.description === '' ? '' : `; ${endpoint.description}`}
      </p>
      <button
        type="button"
        onClick={() => {
          deliveries.refetch().catch((error: unknown) => console.error('could not refresh', error));
        }}
        disabled={deliveries.isFetching}
      >
        Refresh
      </button>
      {deliveries.isPending ? <Loading what="the deliveries" /> : null}
      {deliveries.isError ? <ErrorNotice error={deliveries.error} /> : null}
      {replay.isError ? <ErrorNotice error={replay.error} /> : null}
      {replay.data === undefined ? null : (
        <p role="status" data-testid="replayed">
          Delivery {replay.data.id} sent again: {replay.data.state}.
        </p>
      )}
      {deliveries.data === undefined ? null : (
        <>
          {deliveries.data.data.length === 0 ? (
            <p>No delivery yet.</p>
          ) : (
            <table data-testid="deliveries">
              <caption>The latest {deliveries.data.data.length} deliveries</caption>
              <thead>
                <tr>
                  <th scope="col">Event</th>
                  <th scope="col">Created</th>
                  <th scope="col">State</th>
                  <th scope="col">Attempts</th>
                  <th scope="col">Last answer</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {deliveries.data.data.map((delivery) => (
                  <tr key={delivery.id} data-testid={`delivery-${delivery.id}`}>
                    <th scope="row">
                      {delivery.event_type} <code>{delivery.event_id}</code>
                    </th>
                    <td>
                      <time dateTime={delivery.created_at}>{delivery.created_at}</time>
                    </td>
                    <td data-testid="delivery-state">{delivery.state}</td>
                    <td data-testid="delivery-attempts">{delivery.attempt_count}</td>
                    <td>
                      {delivery.last_status ?? 'no answer'}
                      {delivery.last_error === null ? '' : `: ${delivery.last_error}`}
                    </td>
                    <td>
                      {delivery.state === 'pending' ? (
                        'pending'
                      ) : (
                        <button
                          type="button"
                          onClick={() => replay.mutate(delivery)}
                          disabled={replay.isPending}
                          aria-label={`Replay ${delivery.event_type} ${delivery.id}`}
                        >
                          Replay
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ApiPanel
            label={`API: deliveries of ${endpoint.url}`}
            call={callOf('/v1/webhook-endpoints/{id}/deliveries', { path: { id: endpoint.id }, query })}
            data={deliveries.data}
          />
        </>
      )}
    </section>
  );
}
