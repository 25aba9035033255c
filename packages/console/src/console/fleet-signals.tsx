import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import type { ResponseBody } from '@tenantry/core/api';
import type { ReactNode } from 'react';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';

type Signals = ResponseBody<'/v1/fleet-signals', 'get'>;

/** The date part of an instant: the signals are about days, not seconds. */
const day = (instant: string) => instant.slice(0, 10);

/** The API's signals: each a count and its first items (the API lists the first ten). */
type SignalName = Exclude<keyof Signals, 'generated_at'>;
type Item<N extends SignalName> = Signals[N]['items'][number];

/** A tenant an item is about, linking to its page. */
function TenantLink({ tenant }: { tenant: { slug: string; name: string } }) {
  return (
    <Link to="/tenants/$id" params={{ id: tenant.slug }}>
      {tenant.name}
    </Link>
  );
}

/** How the console shows one signal. */
interface SignalCard<T> {
  readonly title: string;
  /** A link to the list the signal summarises, where the console has one. */
  readonly list?: ReactNode;
  /** An item's React key. */
  readonly key: (item: T) => string;
  /** An item's line, linking to what it is about. */
  readonly item: (item: T) => ReactNode;
}

/**
 * Each signal the API answers, in the order the fleet home shows them: a new signal in the API
 * is a type error here until it has its entry. Its section's id and test id are its name with
 * dashes (`near_limit` → `signal-near-limit`).
 */
const CARDS: { readonly [N in SignalName]: SignalCard<Item<N>> } = {
  near_limit: {
    title: 'Near a limit',
    key: (i) => i.tenant.id,
    item: (i) => (
      <>
        <Link to="/tenants/$id" params={{ id: i.tenant.slug }} search={{ view: 'usage' }}>
          {i.tenant.name}
        </Link>{' '}
        {i.meter}: {i.used} of {i.limit} ({i.threshold} % reached)
      </>
    ),
  },
  trials_ending: {
    title: 'Trials ending within 7 days',
    list: (
      <Link to="/tenants" search={{ state: 'trialing' }}>
        Every trialing tenant
      </Link>
    ),
    key: (i) => i.tenant.id,
    item: (i) => (
      <>
        <TenantLink tenant={i.tenant} /> on {day(i.trial_ends_at)}
      </>
    ),
  },
  licenses_expiring: {
    title: 'Licenses expiring within 30 days',
    key: (i) => i.license_id,
    item: (i) => (
      <>
        <TenantLink tenant={i.tenant} /> on {day(i.expires_at)}
      </>
    ),
  },
  failing_webhooks: {
    title: 'Failing webhook endpoints',
    key: (i) => i.endpoint_id,
    item: (i) => (
      <>
        {i.url} ({i.tenant === null ? 'operator' : <TenantLink tenant={i.tenant} />}
        ):{' '}
        {i.status === 'disabled'
          ? `disabled, ${i.disabled_reason ?? 'no reason given'}`
          : `${i.retrying_deliveries} deliveries being retried`}
      </>
    ),
  },
  provisioning_stuck: {
    title: 'Provisioning failed or stuck',
    list: (
      <Link to="/provisioning" search={{ state: 'failed' }}>
        Failed provisioning runs
      </Link>
    ),
    key: (i) => i.tenant.id,
    item: (i) => (
      <>
        <TenantLink tenant={i.tenant} /> {i.state} at {i.step ?? 'the end'}
        {i.error === null ? '' : `: ${i.error}`}
      </>
    ),
  },
  migrations_stuck: {
    title: 'Migrations failed or stuck',
    list: <Link to="/migrations">Every migration run</Link>,
    key: (i) => i.run_id,
    item: (i) => (
      <>
        <Link to="/migrations/$id" params={{ id: i.run_id }}>
          {i.run_id}
        </Link>{' '}
        to version {i.target_version}, {i.state}
        {i.failed > 0 ? `, ${i.failed} failed` : `, last moved ${i.last_progress_at}`}
      </>
    ),
  },
};

// CARDS' type holds every signal's name and no other key, so its keys are the names, in its order.
const NAMES = Object.keys(CARDS) as SignalName[];

/**
 * One signal: its count in the heading, its first items (the API's ten), and a link to the list it
 * summarises where the console has one.
 */
function Signal<N extends SignalName>({ name, signals }: { name: N; signals: Signals }) {
  const { count, items }: { count: number; items: readonly Item<N>[] } = signals[name];
  const card: SignalCard<Item<N>> = CARDS[name];
  const id = name.replaceAll('_', '-');
  return (
    <section className="signal" aria-labelledby={`signal-${id}`} data-testid={`signal-${id}`}>
      <h3 id={`signal-${id}`}>
        {card.title}: <span data-testid={`signal-${id}-count`}>{count}</span>
      </h3>
      {count === 0 ? (
        <p>None.</p>
      ) : (
        <ul>
          {items.map((item) => (
            <li key={card.key(item)}>{card.item(item)}</li>
          ))}
        </ul>
      )}
      {count > items.length ? <p>The first {items.length} shown.</p> : null}
      {count > 0 && card.list !== undefined ? <p>{card.list}</p> : null}
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
        {NAMES.map((name) => (
          <Signal key={name} name={name} signals={signals} />
        ))}
      </div>
      <p className="who">As of {signals.generated_at}.</p>
      <ApiPanel call={callOf('/v1/fleet-signals')} data={signals} label="Signals API" />
    </>
  );
}
