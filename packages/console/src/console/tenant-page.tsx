import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { lazy, Suspense, useState } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { TenantTimeline } from '../shared/audit-timeline.tsx';
import { ApiPanel, ErrorNotice, Loading, StateBadge, TypedConfirm } from '../shared/components/index.ts';
import type { Tenant } from '../shared/tenants.ts';
import type { TenantView } from './routes.tsx';
import { TenantBilling } from './tenant-billing.tsx';
import { DangerZone } from './tenant-danger-zone.tsx';
import { TenantEntitlements } from './tenant-entitlements.tsx';
import { TenantLicenses } from './tenant-licenses.tsx';
import { TenantMembers } from './tenant-members.tsx';
import { TenantWebhooks } from './tenant-webhooks.tsx';

const route = getRouteApi('/tenants/$id');

// recharts is most of the usage view's weight: its own chunk, read when the view is first opened.
const TenantUsage = lazy(() =>
  import('../shared/usage.tsx').then((module) => ({ default: module.TenantUsage })),
);

const VIEWS: readonly { view: TenantView | undefined; name: string }[] = [
  { view: undefined, name: 'Overview' },
  { view: 'timeline', name: 'Timeline' },
  { view: 'usage', name: 'Usage' },
  { view: 'billing', name: 'Billing' },
  { view: 'entitlements', name: 'Entitlements' },
  { view: 'members', name: 'Members & keys' },
  { view: 'licenses', name: 'Licenses & installs' },
  { view: 'webhooks', name: 'Webhooks' },
];

/**
 * A tenant: its overview (state, plan, placement, its data plane's health, its provisioning), its
 * audit timeline or its usage against its limits; which one is the URL's `view`, so each is a link.
 */
export function TenantPage() {
  const { id } = route.useParams();
  const { view } = route.useSearch();
  const tenant = useQuery({
    queryKey: ['tenant', id],
    queryFn: () => get('/v1/tenants/{id}', { path: { id } }),
  });
  return (
    <>
      {tenant.isPending ? <Loading what="the tenant" /> : null}
      {tenant.isError ? (
        <>
          <h1>{id}</h1>
          <ErrorNotice error={tenant.error} />
        </>
      ) : null}
      {tenant.data === undefined ? null : (
        <>
          <h1>
            {tenant.data.name} <StateBadge state={tenant.data.state} />
          </h1>
          <nav aria-label="Tenant views" className="views">
            {VIEWS.map((item) => (
              <Link
                key={item.name}
                to="/tenants/$id"
                params={{ id }}
                search={{ view: item.view }}
                // The overview's `view` is undefined: compared as such, it is not active on the others.
                activeOptions={{ exact: true, includeSearch: true, explicitUndefined: true }}
                activeProps={{ 'aria-current': 'page' }}
              >
                {item.name}
              </Link>
            ))}
          </nav>
          {view === 'timeline' ? (
            <TenantTimeline tenant={{ id: tenant.data.id, shown: tenant.data.slug }} webhooks />
          ) : view === 'billing' ? (
            <TenantBilling tenant={tenant.data} />
          ) : view === 'usage' ? (
            <Suspense fallback={<Loading what="the usage view" />}>
              <TenantUsage tenant={{ id: tenant.data.id, shown: tenant.data.slug }} />
            </Suspense>
          ) : view === 'entitlements' ? (
            <TenantEntitlements tenant={tenant.data} />
          ) : view === 'members' ? (
            <TenantMembers tenant={tenant.data} />
          ) : view === 'licenses' ? (
            <TenantLicenses tenant={tenant.data} />
          ) : view === 'webhooks' ? (
            <TenantWebhooks tenant={tenant.data} />
          ) : (
            <Overview tenant={tenant.data} />
          )}
        </>
      )}
    </>
  );
}

function Overview({ tenant }: { tenant: Tenant }) {
  const provisioning = tenant.provisioning;
  return (
    <>
      <dl className="facts">
        <dt>Slug</dt>
        <dd>{tenant.slug}</dd>
        <dt>Id</dt>
        <dd>{tenant.id}</dd>
        <dt>State</dt>
        <dd data-testid="tenant-state">
          {tenant.state}
          {tenant.state_reason === null ? '' : ` (${tenant.state_reason})`}
        </dd>
        <dt>Plan</dt>
        <dd>
          {tenant.plan.key} v{tenant.plan.version}
          {tenant.scheduled_change === null
            ? ''
            : `, to ${tenant.scheduled_change.plan.key} on ${tenant.scheduled_change.effective_at}`}
        </dd>
        <dt>Seats</dt>
        <dd>{tenant.seats}</dd>
        <dt>Placement</dt>
        <dd>{tenant.placement}</dd>
        <dt>Data plane</dt>
        <dd>
          {tenant.data_plane}, {tenant.data_plane_health}
        </dd>
        <dt>Region</dt>
        <dd>{tenant.region ?? 'none'}</dd>
        <dt>Provisioning</dt>
        <dd>
          {provisioning === null
            ? 'none'
            : `${provisioning.state}${provisioning.step === null ? '' : `, step ${provisioning.step}`}${
                provisioning.error === null ? '' : `: ${provisioning.error}`
              }`}
        </dd>
        <dt>Current period</dt>
        <dd>
          {tenant.current_period.start} to {tenant.current_period.end}
        </dd>
      </dl>
      <Lifecycle tenant={tenant} />
      <DangerZone tenant={tenant} />
      <ApiPanel call={callOf('/v1/tenants/{id}', { path: { id: tenant.slug } })} data={tenant} />
    </>
  );
}

/** The states a tenant may be suspended from (the API refuses the others). */
const SUSPENDABLE: readonly Tenant['state'][] = ['trialing', 'active', 'past_due'];

/** Suspend or resume, each behind the tenant's slug typed out. */
function Lifecycle({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const [asking, setAsking] = useState<'suspend' | 'resume' | undefined>();
  const change = useMutation({
    mutationFn: (action: 'suspend' | 'resume') =>
      action === 'suspend'
        ? post('/v1/tenants/{id}/suspend', { path: { id: tenant.id }, body: {} })
        : post('/v1/tenants/{id}/resume', { path: { id: tenant.id }, body: {} }),
    onSuccess: (changed) => {
      setAsking(undefined);
      client.setQueryData(['tenant', tenant.slug], changed);
      client.setQueryData(['tenant', tenant.id], changed);
      client.invalidateQueries({ queryKey: ['tenants'] }).catch((error: unknown) => console.warn(error));
      client.invalidateQueries({ queryKey: ['fleet'] }).catch((error: unknown) => console.warn(error));
    },
  });
  const action =
    tenant.state === 'suspended' ? 'resume' : SUSPENDABLE.includes(tenant.state) ? 'suspend' : undefined;
  if (action === undefined) return null;
  const words = `${action === 'suspend' ? 'Suspend' : 'Resume'} ${tenant.slug}`;
  return (
    <section aria-label="Lifecycle">
      {asking === action ? (
        <TypedConfirm
          action={words}
          expected={tenant.slug}
          busy={change.isPending}
          onConfirm={() => change.mutate(action)}
          onCancel={() => setAsking(undefined)}
        />
      ) : (
        <button type="button" onClick={() => setAsking(action)}>
          {action === 'suspend' ? 'Suspend…' : 'Resume…'}
        </button>
      )}
      {change.isError ? <ErrorNotice error={change.error} /> : null}
    </section>
  );
}
