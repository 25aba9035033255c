import { useQuery } from '@tanstack/react-query';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';
import {
  type Answer,
  type ConfigRow,
  type Explanation,
  explainEntitlements,
  type LimitRow,
  mayTenant,
  type OverrideParts,
  overrideParts,
  type PlanParts,
  planParts,
  type Question,
  type Source,
} from './entitlements-explainer.ts';

type Snapshot = Awaited<ReturnType<typeof readSnapshot>>;

function readSnapshot(tenant: Tenant) {
  return get('/v1/tenants/{id}/entitlements', { path: { id: tenant.id } });
}

/**
 * Where each of the tenant's entitlements comes from: every effective feature, limit and config
 * value of its snapshot (the server's evaluation) beside its plan version's value and the
 * tenant's override, and "may this tenant do X?" answered with the reason.
 */
export function TenantEntitlements({ tenant }: { tenant: Tenant }) {
  const snapshot = useQuery({ queryKey: ['entitlements', tenant.id], queryFn: () => readSnapshot(tenant) });
  const version = { key: tenant.plan.key, version: tenant.plan.version };
  const plan = useQuery({
    queryKey: ['plan-version', version.key, version.version],
    queryFn: () => get('/v1/plans/{key}/versions/{version}', { path: version }),
  });
  const parts = plan.data === undefined ? undefined : planParts(plan.data.definition);
  const deal = overrideParts(tenant.overrides);
  return (
    <section aria-labelledby="entitlements-heading">
      <h2 id="entitlements-heading">Entitlements</h2>
      <button
        type="button"
        onClick={() => {
          snapshot.refetch().catch((error: unknown) => console.error('could not refresh', error));
        }}
        disabled={snapshot.isFetching}
      >
        Refresh
      </button>
      {snapshot.isPending || plan.isPending ? <Loading what="the entitlements and the plan" /> : null}
      {snapshot.isError ? <ErrorNotice error={snapshot.error} /> : null}
      {plan.isError ? <ErrorNotice error={plan.error} /> : null}
      {snapshot.data === undefined || parts === undefined ? null : (
        <>
          <p>
            Plan <strong>{version.key}</strong> version {version.version}; values marked <em>override</em> are
            the tenant's own deal ({tenant.slug}'s <code>overrides</code>).
          </p>
          {snapshot.data.active ? (
            <Explained explanation={explainEntitlements(snapshot.data, parts, deal)} />
          ) : (
            <p data-testid="entitlements-inactive">
              The tenant is {snapshot.data.state}: its snapshot grants nothing while it is (
              {snapshot.data.reason ?? snapshot.data.state}).
            </p>
          )}
          <MayTenant snapshot={snapshot.data} plan={parts} overrides={deal} />
          <ApiPanel
            label="API: entitlements"
            call={callOf('/v1/tenants/{id}/entitlements', { path: { id: tenant.slug } })}
            data={snapshot.data}
          />
          <ApiPanel
            label="API: plan version"
            call={callOf('/v1/plans/{key}/versions/{version}', { path: version })}
            data={plan.data}
          />
          <ApiPanel
            label="API: tenant overrides"
            call={callOf('/v1/tenants/{id}', { path: { id: tenant.slug } })}
            data={tenant.overrides}
          />
        </>
      )}
    </section>
  );
}

function SourceCell({ source }: { source: Source }) {
  return <td className={`source source-${source}`}>{source === 'override' ? 'override' : 'plan'}</td>;
}

const show = (value: unknown) => (value === undefined ? 'not in plan' : String(value));

function limitText(value: number | null, perSeat: boolean) {
  return value === null ? 'unlimited' : perSeat ? `${value} per seat` : String(value);
}

function Explained({ explanation }: { explanation: Explanation }) {
  return (
    <>
      <table data-testid="entitlement-features">
        <caption>Features</caption>
        <thead>
          <tr>
            <th scope="col">Feature</th>
            <th scope="col">Effective</th>
            <th scope="col">Source</th>
            <th scope="col">Plan's value</th>
          </tr>
        </thead>
        <tbody>
          {explanation.features.map((row) => (
            <tr key={row.key} data-testid={`feature-${row.key}`}>
              <th scope="row">{row.key}</th>
              <td>{row.enabled ? 'on' : 'off'}</td>
              <SourceCell source={row.source} />
              <td>{row.planEnabled === undefined ? 'not in plan' : row.planEnabled ? 'on' : 'off'}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <table data-testid="entitlement-limits">
        <caption>Limits</caption>
        <thead>
          <tr>
            <th scope="col">Limit</th>
            <th scope="col">Kind</th>
            <th scope="col">Effective</th>
            <th scope="col">Used</th>
            <th scope="col">Enforcement</th>
            <th scope="col">Source</th>
            <th scope="col">Plan's value</th>
          </tr>
        </thead>
        <tbody>
          {explanation.limits.map((row) => (
            <LimitLine key={row.key} row={row} />
          ))}
        </tbody>
      </table>
      <table data-testid="entitlement-config">
        <caption>Config</caption>
        <thead>
          <tr>
            <th scope="col">Key</th>
            <th scope="col">Effective</th>
            <th scope="col">Source</th>
            <th scope="col">Plan's value</th>
          </tr>
        </thead>
        <tbody>
          {explanation.config.map((row: ConfigRow) => (
            <tr key={row.key} data-testid={`config-${row.key}`}>
              <th scope="row">{row.key}</th>
              <td>{String(row.value)}</td>
              <SourceCell source={row.source} />
              <td>{show(row.planValue)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}

function LimitLine({ row }: { row: LimitRow }) {
  return (
    <tr data-testid={`limit-${row.key}`}>
      <th scope="row">{row.key}</th>
      <td>{row.limit.kind}</td>
      <td>{row.limit.limit ?? 'unlimited'}</td>
      <td>{row.limit.used ?? 'not known'}</td>
      <td>{row.limit.enforcement}</td>
      <SourceCell source={row.source} />
      <td>{row.plan === undefined ? 'not in plan' : limitText(row.plan.value, row.plan.per_seat)}</td>
    </tr>
  );
}

/** "May this tenant do X?": a feature, or an amount of a meter, answered yes or no with the reason. */
function MayTenant({
  snapshot,
  plan,
  overrides,
}: {
  snapshot: Snapshot;
  plan: PlanParts;
  overrides: OverrideParts;
}) {
  const ids = { what: useId(), amount: useId() };
  // What may be asked: the features and limits of the plan and of the snapshot (an inactive
  // tenant's is empty, and may still be asked about), and the meters tied to a feature.
  const features = [...new Set([...Object.keys(plan.features), ...Object.keys(snapshot.features)])].sort();
  const meters = [
    ...new Set([
      ...Object.keys(plan.limits),
      ...Object.keys(snapshot.limits),
      ...Object.keys(snapshot.meter_features ?? {}),
    ]),
  ]
    .filter((key) => key !== 'seats')
    .sort();
  const [what, setWhat] = useState(features[0] === undefined ? '' : `feature:${features[0]}`);
  const [amount, setAmount] = useState('1');
  const [answer, setAnswer] = useState<{ question: Question; answer: Answer } | undefined>();
  const isMeter = what.startsWith('meter:');
  const units = Number(amount);
  const amountValid = Number.isFinite(units) && units > 0;
  const ask = (event: FormEvent) => {
    event.preventDefault();
    const [kind, key = ''] = what.split(/:(.*)/s);
    if (key === '') return;
    const question: Question =
      kind === 'meter' ? { kind: 'meter', meter: key, amount: units } : { kind: 'feature', feature: key };
    setAnswer({ question, answer: mayTenant(snapshot, plan, overrides, question) });
  };
  return (
    <section aria-labelledby="may-heading">
      <h3 id="may-heading">May this tenant…?</h3>
      <form className="filters" aria-label="May this tenant" onSubmit={ask}>
        <label htmlFor={ids.what}>Use</label>
        <select
          id={ids.what}
          name="what"
          value={what}
          onChange={(event) => {
            setWhat(event.target.value);
            setAnswer(undefined);
          }}
        >
          <optgroup label="Features">
            {features.map((key) => (
              <option key={key} value={`feature:${key}`}>
                feature {key}
              </option>
            ))}
          </optgroup>
          <optgroup label="Meters">
            {meters.map((key) => (
              <option key={key} value={`meter:${key}`}>
                meter {key}
              </option>
            ))}
          </optgroup>
        </select>
        {isMeter ? (
          <>
            <label htmlFor={ids.amount}>Amount</label>
            <input
              id={ids.amount}
              name="amount"
              type="number"
              min={1}
              value={amount}
              onChange={(event) => {
                setAmount(event.target.value);
                setAnswer(undefined);
              }}
            />
          </>
        ) : null}
        <button type="submit" disabled={what === '' || (isMeter && !amountValid)}>
          Ask
        </button>
      </form>
      <div role="status" data-testid="may-answer">
        {answer === undefined ? null : (
          <p className={answer.answer.allowed ? 'answer-yes' : 'answer-no'}>
            <strong data-testid="may-verdict">{answer.answer.allowed ? 'Yes' : 'No'}</strong>{' '}
            <span data-testid="may-reason">({answer.answer.reason.replace(/_/g, ' ')})</span>:{' '}
            <span data-testid="may-detail">{answer.answer.detail}</span>
          </p>
        )}
      </div>
    </section>
  );
}
