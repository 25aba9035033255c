import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import type { ResponseBody } from '@tenantry/core/api';
import type { ReactNode } from 'react';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';

type Signals = ResponseBody<'/v1/fleet-signals', 'get'>;

/** The date part of an instant: the signals are about days, not seconds. */
const day = (instant: string) => instant.slice(0, 10);

/**
 * One signal: its count in the heading, its first items (the API's ten), and a link to the list it
 * summarises where the console has one.
 */
function Signal({
  id,
  title,
  count,
  shown,
  list,
  children,
}: {
  id: string;
  title: string;
  count: number;
  /** How many items are listed: the API lists the first ten. */
  shown: number;
  list?: ReactNode;
  children: ReactNode;
}) {
  return (
    <section className="signal" aria-labelledby={`signal-${id}`} data-testid={`signal-${id}`}>
      <h3 id={`signal-${id}`}>
        {title}: <span data-testid={`signal-${id}-count`}>{count}</span>
      </h3>
      {count === 0 ? <p>None.</p> : <ul>{children}</ul>}
      {count > shown ? <p>The first {shown} shown.</p> : null}
      {count > 0 && list !== undefined ? <p>{list}</p> : null}
    </section>
  );
}

/** What needs looking at across the fleet (GET /v1/fleet-signals), each signal linking onwards. */
export function FleetSignals() {
  const signals = useQuery({ queryKey: ['fleet-signals'], queryFn: () => get('/v1/fleet-signals') });
  return (
    <section aria-labelledby="signals-heading">
      <h2 id="signals-heading">Needs a look</h2>
      {signals.isPending ? <Loading what="the fleet's signals" /> : null}
      {signals.isError ? <ErrorNotice error={signals.error} /> : null}
      {signals.data === undefined ? null : <SignalList signals={signals.data} />}
    </section>
  );
}

function SignalList({ signals }: { signals: Signals }) {
  return (
    <>
      <div className="grid">
        <Signal
          id="near-limit"
          title="Near a limit"
          count={signals.near_limit.count}
          shown={signals.near_limit.items.length}
        >
          {signals.near_limit.items.map((i) => (
            <li key={i.tenant.id}>
              <Link to="/tenants/$id" params={{ id: i.tenant.slug }} search={{ view: 'usage' }}>
                {i.tenant.name}
              </Link>{' '}
              {i.meter}: {i.used} of {i.limit} ({i.threshold} % reached)
            </li>
          ))}
        </Signal>
        <Signal
          id="trials-ending"
          title="Trials ending within 7 days"
          count={signals.trials_ending.count}
          shown={signals.trials_ending.items.length}
          list={
            <Link to="/tenants" search={{ state: 'trialing' }}>
              Every trialing tenant
            </Link>
          }
        >
          {signals.trials_ending.items.map((i) => (
            <li key={i.tenant.id}>
              <Link to="/tenants/$id" params={{ id: i.tenant.slug }}>
                {i.tenant.name}
              </Link>{' '}
              on {day(i.trial_ends_at)}
            </li>
          ))}
        </Signal>
        <Signal
          id="licenses-expiring"
          title="Licenses expiring within 30 days"
          count={signals.licenses_expiring.count}
          shown={signals.licenses_expiring.items.length}
        >
          {signals.licenses_expiring.items.map((i) => (
            <li key={i.license_id}>
              <Link to="/tenants/$id" params={{ id: i.tenant.slug }}>
                {i.tenant.name}
              </Link>{' '}
              on {day(i.expires_at)}
            </li>
          ))}
        </Signal>
        <Signal
          id="failing-webhooks"
          title="Failing webhook endpoints"
          count={signals.failing_webhooks.count}
          shown={signals.failing_webhooks.items.length}
        >
          {signals.failing_webhooks.items.map((i) => (
            <li key={i.endpoint_id}>
              {i.url} (
              {i.tenant === null ? (
                'operator'
              ) : (
                <Link to="/tenants/$id" params={{ id: i.tenant.slug }}>
                  {i.tenant.name}
                </Link>
              )}
              ):{' '}
              {i.status === 'disabled'
                ? `disabled, ${i.disabled_reason ?? 'no reason given'}`
                : `${i.retrying_deliveries} deliveries being retried`}
            </li>
          ))}
        </Signal>
        <Signal
          id="provisioning-stuck"
          title="Provisioning failed or stuck"
          count={signals.provisioning_stuck.count}
          shown={signals.provisioning_stuck.items.length}
          list={
            <Link to="/provisioning" search={{ state: 'failed' }}>
              Failed provisioning runs
            </Link>
          }
        >
          {signals.provisioning_stuck.items.map((i) => (
            <li key={i.tenant.id}>
              <Link to="/tenants/$id" params={{ id: i.tenant.slug }}>
                {i.tenant.name}
              </Link>{' '}
              {i.state} at {i.step ?? 'the end'}
              {i.error === null ? '' : `: ${i.error}`}
            </li>
          ))}
        </Signal>
        <Signal
          id="migrations-stuck"
          title="Migrations failed or stuck"
          count={signals.migrations_stuck.count}
          shown={signals.migrations_stuck.items.length}
          list={<Link to="/migrations">Every migration run</Link>}
        >
          {signals.migrations_stuck.items.map((i) => (
            <li key={i.run_id}>
              <Link to="/migrations/$id" params={{ id: i.run_id }}>
                {i.run_id}
              </Link>{' '}
              to version {i.target_version}, {i.state}
              {i.failed > 0 ? `, ${i.failed} failed` : `, last moved ${i.last_progress_at}`}
            </li>
          ))}
        </Signal>
      </div>
      <p className="who">As of {signals.generated_at}.</p>
      <ApiPanel call={callOf('/v1/fleet-signals')} data={signals} label="Signals API" />
    </>
  );
}
