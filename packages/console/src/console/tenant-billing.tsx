import { useQuery, useQueryClient } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { callOf, get } from '../shared/api.ts';
import { InvoiceLines, Invoices, PlanChange } from '../shared/billing/index.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';

// recharts is most of the showback's weight: its own chunk, shared with the portal, read when the
// billing view is first opened.
const Showback = lazy(() =>
  import('../shared/billing/showback.tsx').then((module) => ({ default: module.Showback })),
);

/**
 * A tenant's billing, for the operator: its subscription (plan, version, seats, period, scheduled
 * change, and the history of plan and seats), a plan change previewed before it is confirmed,
 * its invoices and the showback of a period (by category and by subject).
 */
export function TenantBilling({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const subscription = useQuery({
    queryKey: ['subscription', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/subscription', { path: { id: tenant.id } }),
  });
  const plans = useQuery({ queryKey: ['plans'], queryFn: () => get('/v1/plans') });
  const changed = (next: Tenant) => {
    client.setQueryData(['tenant', tenant.slug], next);
    client.setQueryData(['tenant', tenant.id], next);
    for (const key of [
      ['subscription', tenant.id],
      ['upcoming', tenant.id],
      ['showback', tenant.id],
      ['tenants'],
      ['fleet'],
    ]) {
      client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
    }
  };
  return (
    <>
      <section aria-labelledby="subscription-heading">
        <h2 id="subscription-heading">Subscription</h2>
        <dl className="facts">
          <dt>Plan</dt>
          <dd data-testid="billing-plan">
            {tenant.plan.key} v{tenant.plan.version}
          </dd>
          <dt>Seats</dt>
          <dd>{tenant.seats}</dd>
          <dt>Current period</dt>
          <dd>
            {tenant.current_period.start} to {tenant.current_period.end}
          </dd>
          <dt>Scheduled change</dt>
          <dd data-testid="billing-scheduled">
            {tenant.scheduled_change === null
              ? 'none'
              : `to ${tenant.scheduled_change.plan.key} v${tenant.scheduled_change.plan.version} on ${tenant.scheduled_change.effective_at}`}
          </dd>
          {subscription.data === undefined ? null : (
            <>
              <dt>Billing starts</dt>
              <dd>{subscription.data.billing_starts_at}</dd>
              <dt>Invoiced until</dt>
              <dd>{subscription.data.invoiced_until}</dd>
              <dt>Next invoice</dt>
              <dd>{subscription.data.next_invoice_at ?? 'none'}</dd>
            </>
          )}
        </dl>
        {subscription.isPending ? <Loading what="the subscription" /> : null}
        {subscription.isError ? <ErrorNotice error={subscription.error} /> : null}
        {subscription.data === undefined ? null : (
          <table>
            <caption>Plan and seats over time</caption>
            <thead>
              <tr>
                <th scope="col">From</th>
                <th scope="col">To</th>
                <th scope="col">Plan</th>
                <th scope="col">Seats</th>
              </tr>
            </thead>
            <tbody>
              {subscription.data.segments.map((segment) => (
                <tr key={segment.from}>
                  <th scope="row">{segment.from}</th>
                  <td>{segment.to ?? 'in force'}</td>
                  <td>
                    {segment.plan.key} v{segment.plan.version}
                  </td>
                  <td>{segment.seats}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        <ApiPanel
          label="Subscription API"
          call={callOf('/v1/tenants/{id}/subscription', { path: { id: tenant.slug } })}
          data={subscription.data ?? null}
        />
      </section>
      {plans.isError ? <ErrorNotice error={plans.error} /> : null}
      {tenant.state === 'deleted' ? null : (
        <PlanChange tenant={tenant} plans={plans.data?.data ?? []} onChanged={changed} />
      )}
      <Upcoming tenant={tenant} />
      <Invoices tenant={tenant} />
      <Suspense fallback={<Loading what="the showback" />}>
        <Showback tenant={tenant} />
      </Suspense>
    </>
  );
}

/** The draft of the current period's invoice (`GET /v1/tenants/{id}/invoices/upcoming`): what it bills so far. */
function Upcoming({ tenant }: { tenant: Tenant }) {
  const upcoming = useQuery({
    queryKey: ['upcoming', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/invoices/upcoming', { path: { id: tenant.id } }),
  });
  return (
    <section aria-labelledby="upcoming-heading">
      <h2 id="upcoming-heading">Upcoming invoice</h2>
      {upcoming.isPending ? <Loading what="the upcoming invoice" /> : null}
      {upcoming.isError ? <ErrorNotice error={upcoming.error} /> : null}
      {upcoming.data === undefined ? null : (
        <div data-testid="upcoming">
          <InvoiceLines
            invoice={upcoming.data}
            caption={`Draft for ${upcoming.data.period.start} to ${upcoming.data.period.end}`}
          />
        </div>
      )}
      <ApiPanel
        label="Upcoming invoice API"
        call={callOf('/v1/tenants/{id}/invoices/upcoming', { path: { id: tenant.slug } })}
        data={upcoming.data ?? null}
      />
    </section>
  );
}
