import { useMutation } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { ChangePlan } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { post } from '../api.ts';
import { ApiPanel, ErrorNotice } from '../components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../schema-form.tsx';

type Preview = Schemas['PlanChangePreview'];
type Tenant = Schemas['Tenant'];
type When = 'auto' | 'now' | 'period_end';

/** A plan the form offers: its key, name and latest version. */
export interface PlanChoice {
  readonly key: string;
  readonly name: string;
  readonly latest_version: number;
}

const WHEN: readonly { value: When; label: string }[] = [
  { value: 'auto', label: 'Automatic: an upgrade now, a downgrade at the period end' },
  { value: 'now', label: 'Now, prorated' },
  { value: 'period_end', label: 'At the end of the billing period' },
];

/**
 * Changing a tenant's plan in two steps, as Stripe's customer portal does: the chosen plan and
 * timing are first previewed (`POST /v1/tenants/{id}/change-plan/preview`: when it takes effect,
 * the proration, the next invoice), and only the preview's own request is then applied
 * (`POST /v1/tenants/{id}/change-plan`) by its confirm button. Changing the choice drops the
 * preview, so what is confirmed is always what was shown. The operator console and the portal
 * share it; the portal has no plan list (the catalogue is the vendor's), so a plan key is typed.
 */
export function PlanChange({
  tenant,
  plans,
  onChanged,
}: {
  tenant: { id: string; slug: string; plan: { key: string; version: number } };
  /** The plans to pick from; `undefined`: the plan's key is typed. */
  plans: readonly PlanChoice[] | undefined;
  onChanged: (tenant: Tenant) => void;
}) {
  const planId = useId();
  const whenId = useId();
  const [plan, setPlan] = useState('');
  const [at, setAt] = useState<When>('auto');
  const [changed, setChanged] = useState<string | undefined>();
  const request = { plan: plan.trim(), at };
  const form = useSchemaForm(ChangePlan);
  const preview = useMutation({
    mutationFn: (body: { plan: string; at: When }) =>
      post('/v1/tenants/{id}/change-plan/preview', { path: { id: tenant.id }, body }),
    onError: form.refused,
  });
  const apply = useMutation({
    mutationFn: (body: { plan: string; at: When }) =>
      post('/v1/tenants/{id}/change-plan', { path: { id: tenant.id }, body }),
    onSuccess: (result) => {
      setChanged(
        result.scheduled_change === null
          ? `The plan is now ${result.plan.key} v${result.plan.version}.`
          : `The change to ${result.scheduled_change.plan.key} takes effect on ${result.scheduled_change.effective_at}.`,
      );
      preview.reset();
      onChanged(result);
    },
    onError: form.refused,
  });
  const choose = (next: () => void) => {
    next();
    preview.reset();
    apply.reset();
    setChanged(undefined);
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(request)) preview.mutate(request);
  };
  const shown = preview.data;
  return (
    <section aria-labelledby="plan-change-heading">
      <h2 id="plan-change-heading">Change plan</h2>
      <form ref={form.ref} className="plan-change" onSubmit={submit} noValidate>
        <label htmlFor={planId}>{plans === undefined ? 'Plan key' : 'Plan'}</label>
        {plans === undefined ? (
          <input
            id={planId}
            value={plan}
            onChange={(event) => choose(() => setPlan(event.target.value))}
            autoComplete="off"
            spellCheck={false}
            required
            {...form.field('plan')}
          />
        ) : (
          <select
            id={planId}
            value={plan}
            onChange={(event) => choose(() => setPlan(event.target.value))}
            required
            {...form.field('plan')}
          >
            <option value="">Choose a plan</option>
            {plans.map((p) => (
              <option key={p.key} value={p.key}>
                {p.name} ({p.key} v{p.latest_version}){p.key === tenant.plan.key ? ', current' : ''}
              </option>
            ))}
          </select>
        )}
        <FieldError form={form} name="plan" />
        <label htmlFor={whenId}>When</label>
        <select
          id={whenId}
          value={at}
          onChange={(event) => choose(() => setAt(event.target.value as When))}
          {...form.field('at')}
        >
          {WHEN.map((w) => (
            <option key={w.value} value={w.value}>
              {w.label}
            </option>
          ))}
        </select>
        <FieldError form={form} name="at" />
        <OtherErrors form={form} />
        <button type="submit" disabled={preview.isPending}>
          {preview.isPending ? 'Previewing…' : 'Preview'}
        </button>
      </form>
      {preview.isError ? <ErrorNotice error={preview.error} /> : null}
      {changed === undefined ? null : (
        <p role="status" data-testid="plan-changed">
          {changed}
        </p>
      )}
      {shown === undefined ? null : (
        <>
          <PreviewSummary preview={shown} />
          <button type="button" onClick={() => apply.mutate(request)} disabled={apply.isPending}>
            {`Confirm: change to ${shown.to.plan} v${shown.to.version}`}
          </button>
          {apply.isError ? <ErrorNotice error={apply.error} /> : null}
          <ApiPanel
            label="Preview API"
            call={{ method: 'POST', url: `/v1/tenants/${tenant.slug}/change-plan/preview`, body: request }}
            data={shown}
          />
        </>
      )}
    </section>
  );
}

/** A preview: when the change takes effect, its proration lines and what the invoices total. */
function PreviewSummary({ preview }: { preview: Preview }) {
  const money = (amount: string) => `${amount} ${preview.currency.toUpperCase()}`;
  return (
    <div data-testid="plan-change-preview">
      <h3>
        {preview.from.plan} v{preview.from.version} to {preview.to.plan} v{preview.to.version}
      </h3>
      <dl className="facts">
        <dt>Takes effect</dt>
        <dd data-testid="preview-effective">
          {preview.effective === 'now' ? 'now' : 'at the period end'}, {preview.effective_at}
        </dd>
        <dt>Proration</dt>
        <dd data-testid="preview-proration">{money(preview.proration.amount)}</dd>
        <dt>Current period, as it stands</dt>
        <dd>{money(preview.current_invoice.total)}</dd>
        <dt>Next invoice, with the change</dt>
        <dd data-testid="preview-next-invoice">{money(preview.next_invoice.total)}</dd>
        {preview.first_invoice_on_new_plan === null ? null : (
          <>
            <dt>First period on the new plan</dt>
            <dd>{money(preview.first_invoice_on_new_plan.total)}</dd>
          </>
        )}
      </dl>
      {preview.proration.lines.length === 0 ? (
        <p>No proration: the change starts with a billing period.</p>
      ) : (
        <table>
          <caption>Proration lines</caption>
          <thead>
            <tr>
              <th scope="col">Line</th>
              <th scope="col">Period</th>
              <th scope="col">Amount</th>
            </tr>
          </thead>
          <tbody>
            {preview.proration.lines.map((line) => (
              <tr key={`${line.kind}-${line.price_key}-${line.plan.key}-${line.plan.version}`}>
                <th scope="row">{line.description}</th>
                <td>
                  {line.period.start} to {line.period.end}
                </td>
                <td className="num">{money(line.amount)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
