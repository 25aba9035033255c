import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { PaymentMethodInput } from '@tenantry/core/api/requests';
import { type FormEvent, lazy, Suspense, useState } from 'react';
import { ApiError, callOf, get, post, write } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { Invoices, PlanChange } from '../shared/billing/index.ts';
import { ConfirmedAction } from '../shared/components/confirmed-action.tsx';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import { can } from './access.tsx';

// The operator's showback itself (the same costs and chart), in its own chunk with recharts, read
// when this page is first opened.
const Showback = lazy(() =>
  import('../shared/billing/showback.tsx').then((module) => ({ default: module.Showback })),
);

/**
 * Plan & billing, for the tenant's own admins and billing members: the subscription, a plan change
 * with the same preview as the operator's (a member needs `billing:write` to confirm it, and moves
 * to a plan's latest version), the invoices with their HTML and PDF, the payment method on file
 * (replaced or removed with `billing:write`), and the showback: a period's costs by category and
 * by subject. Every call is the member's own token on the public API.
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
      <Suspense fallback={<Loading what="the showback" />}>
        <Showback tenant={{ id: tenantId, slug: tenantId }} />
      </Suspense>
    </>
  );
}

type Method = Schemas['PaymentMethod'];

/**
 * The payment method on file (`GET /v1/tenants/{id}/payment-method`; none is no error). A member
 * with `billing:write` puts another on file in its place (`POST`) or takes it off (`DELETE`,
 * behind typing its reference); one with `billing:read` only sees it. Each answer updates what the
 * page shows, so a removal is not read back as a 404.
 */
function PaymentMethod({ tenantId }: { tenantId: string }) {
  const client = useQueryClient();
  const key = ['payment-method', tenantId];
  const method = useQuery({
    queryKey: key,
    queryFn: (): Promise<Method | null> =>
      get('/v1/tenants/{id}/payment-method', { path: { id: tenantId } }).catch((error: unknown) => {
        if (error instanceof ApiError && error.code === 'payment_method_not_found') return null;
        throw error;
      }),
  });
  const shown = method.data;
  const writable = can('billing:write');
  return (
    <section aria-labelledby="payment-method-heading">
      <h2 id="payment-method-heading">Payment method</h2>
      {method.isPending ? <Loading what="the payment method" /> : null}
      {method.isError ? <ErrorNotice error={method.error} /> : null}
      {shown === undefined ? null : (
        <p data-testid="payment-method">
          {shown === null
            ? 'No payment method on file.'
            : `${shown.brand ?? 'Card'}${shown.last4 === null ? '' : ` ending in ${shown.last4}`} (${shown.reference}), on file since ${shown.updated_at}`}
        </p>
      )}
      {!writable ? (
        <p>Your role may see the payment method, not change it: that needs the permission billing:write.</p>
      ) : shown === undefined ? null : (
        <>
          <MethodForm
            tenantId={tenantId}
            replacing={shown !== null}
            onSaved={(saved) => client.setQueryData(key, saved)}
          />
          {shown === null ? null : (
            <ConfirmedAction
              label="Remove payment method…"
              words={`Remove ${shown.reference}`}
              expected={shown.reference}
              run={() => write('delete', '/v1/tenants/{id}/payment-method', { path: { id: tenantId } })}
              onDone={() => client.setQueryData(key, null)}
            />
          )}
        </>
      )}
      <ApiPanel
        label="Payment method API"
        call={callOf('/v1/tenants/{id}/payment-method', { path: { id: tenantId } })}
        data={shown ?? null}
      />
    </section>
  );
}

/**
 * Putting a payment method on file: the payment provider's reference of it (Stripe's `pm_…`, or
 * the vendor's own for invoices settled otherwise), with its brand and last four digits to show.
 * No card number is ever typed here: the provider holds those.
 */
function MethodForm({
  tenantId,
  replacing,
  onSaved,
}: {
  tenantId: string;
  replacing: boolean;
  onSaved: (method: Method) => void;
}) {
  const [reference, setReference] = useState('');
  const [brand, setBrand] = useState('');
  const [last4, setLast4] = useState('');
  const body = {
    reference: reference.trim(),
    ...(brand.trim() === '' ? {} : { brand: brand.trim() }),
    ...(last4.trim() === '' ? {} : { last4: last4.trim() }),
  };
  const form = useSchemaForm(PaymentMethodInput);
  const save = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/payment-method', { path: { id: tenantId }, body }),
    onSuccess: (saved) => {
      setReference('');
      setBrand('');
      setLast4('');
      onSaved(saved);
    },
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) save.mutate();
  };
  const action = replacing ? 'Replace payment method' : 'Add payment method';
  return (
    <form ref={form.ref} className="filters" onSubmit={submit} aria-label={action} noValidate>
      <label>
        Reference (the provider's id, e.g. pm_…)
        <input
          value={reference}
          onChange={(event) => setReference(event.target.value)}
          autoComplete="off"
          spellCheck={false}
          required
          {...form.field('reference')}
        />
      </label>
      <FieldError form={form} name="reference" />
      <label>
        Brand (optional)
        <input value={brand} onChange={(event) => setBrand(event.target.value)} {...form.field('brand')} />
      </label>
      <FieldError form={form} name="brand" />
      <label>
        Last four digits (optional)
        <input
          value={last4}
          onChange={(event) => setLast4(event.target.value)}
          inputMode="numeric"
          autoComplete="off"
          {...form.field('last4')}
        />
      </label>
      <FieldError form={form} name="last4" />
      <OtherErrors form={form} />
      <button type="submit" disabled={save.isPending}>
        {save.isPending ? 'Saving…' : action}
      </button>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
    </form>
  );
}
