import { useQuery, useQueryClient } from '@tanstack/react-query';
import { ApiError, callOf, get } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { Invoices, PlanChange } from '../shared/billing/index.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';

/**
 * Plan & billing, for the tenant's own admins and billing members: the subscription, a plan change
 * with the same preview as the operator's (a member needs `billing:write` to confirm it, and moves
 * to a plan's latest version), the invoices with their HTML and PDF, and the payment method on
 * file. Every call is the member's own token on the public API.
 */
export function PortalBilling() {
  const tenantId = session()?.tenantId;
  const client = useQueryClient();
  const subscription = useQuery({
    queryKey: ['subscription', tenantId],
    queryFn: () => get('/v1/tenants/{id}/subscription', { path: { id: tenantId ?? '' } }),
    enabled: tenantId !== undefined,
  });
  if (tenantId === undefined) {
    return (
      <>
        <h1>Plan &amp; billing</h1>
        <p role="alert">This sign-in is for no organisation: the portal is for the members of a tenant.</p>
      </>
    );
  }
  const current = subscription.data?.segments.at(-1);
  const changed = () => {
    for (const key of [
      ['subscription', tenantId],
      ['entitlements', tenantId],
      ['invoices', tenantId],
    ]) {
      client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
    }
  };
  return (
    <>
      <h1>Plan &amp; billing</h1>
      {subscription.isPending ? <Loading what="your subscription" /> : null}
      {subscription.isError ? <ErrorNotice error={subscription.error} /> : null}
      {subscription.data === undefined || current === undefined ? null : (
        <section aria-labelledby="portal-plan-heading">
          <h2 id="portal-plan-heading">Your plan</h2>
          <dl className="facts">
            <dt>Plan</dt>
            <dd data-testid="portal-plan">
              {current.plan.key} v{current.plan.version}
            </dd>
            <dt>Seats</dt>
            <dd>{current.seats}</dd>
            <dt>Current period</dt>
            <dd>
              {subscription.data.current_period.start} to {subscription.data.current_period.end}
            </dd>
            <dt>Next invoice</dt>
            <dd>{subscription.data.next_invoice_at ?? 'none'}</dd>
          </dl>
          <ApiPanel
            label="Subscription API"
            call={callOf('/v1/tenants/{id}/subscription', { path: { id: tenantId } })}
            data={subscription.data}
          />
        </section>
      )}
      {current === undefined ? null : (
        <PlanChange
          tenant={{ id: tenantId, slug: tenantId, plan: current.plan }}
          plans={undefined}
          onChanged={changed}
        />
      )}
      <Invoices tenant={{ id: tenantId, slug: tenantId }} />
      <PaymentMethod tenantId={tenantId} />
    </>
  );
}

/** The payment method on file (`GET /v1/tenants/{id}/payment-method`); none is no error. */
function PaymentMethod({ tenantId }: { tenantId: string }) {
  const method = useQuery({
    queryKey: ['payment-method', tenantId],
    queryFn: () => get('/v1/tenants/{id}/payment-method', { path: { id: tenantId } }),
  });
  const none = method.error instanceof ApiError && method.error.code === 'payment_method_not_found';
  return (
    <section aria-labelledby="payment-method-heading">
      <h2 id="payment-method-heading">Payment method</h2>
      {method.isPending ? <Loading what="the payment method" /> : null}
      {none ? (
        <p data-testid="payment-method">No payment method on file.</p>
      ) : method.isError ? (
        <ErrorNotice error={method.error} />
      ) : null}
      {method.data === undefined ? null : (
        <p data-testid="payment-method">
          {method.data.brand ?? 'Card'}
          {method.data.last4 === null ? '' : ` ending in ${method.data.last4}`}, on file since{' '}
          {method.data.created_at}
        </p>
      )}
      <ApiPanel
        label="Payment method API"
        call={callOf('/v1/tenants/{id}/payment-method', { path: { id: tenantId } })}
        data={method.data ?? (method.error instanceof ApiError ? method.error.problem : null)}
      />
    </section>
  );
}
