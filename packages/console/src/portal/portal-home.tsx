import { useQuery } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import { ApiError, callOf, get } from '../shared/api.ts';
import { session } from '../shared/auth.ts';
import { ApiPanel, ErrorNotice, Loading, StateBadge } from '../shared/components/index.ts';

type Snapshot = ResponseBody<'/v1/tenants/{id}/entitlements', 'get'>;

/**
 * The signed-in member's organisation: its state and plan, and its usage against each limit,
 * from its entitlement snapshot (the member's own token, which needs `billing:read`).
 */
export function PortalHome() {
  const tenantId = session()?.tenantId;
  const snapshot = useQuery({
    queryKey: ['entitlements', tenantId],
    queryFn: () => get('/v1/tenants/{id}/entitlements', { path: { id: tenantId ?? '' } }),
    enabled: tenantId !== undefined,
  });
  if (tenantId === undefined) {
    return (
      <>
        <h1>Your organisation</h1>
        <p role="alert">This sign-in is for no organisation: the portal is for the members of a tenant.</p>
      </>
    );
  }
  const refused = snapshot.error instanceof ApiError ? snapshot.error : undefined;
  return (
    <>
      <h1>{session()?.organizationName ?? 'Your organisation'}</h1>
      <button type="button" onClick={() => snapshot.refetch()} disabled={snapshot.isFetching}>
        Refresh
      </button>
      {snapshot.isPending && snapshot.fetchStatus !== 'idle' ? <Loading what="your organisation" /> : null}
      {refused?.code === 'tenant_inactive' ? (
        <p role="alert" data-testid="portal-state">
          Your organisation is <StateBadge state={String(refused.problem.state ?? 'inactive')} />: its members
          may not act until it is resumed.
        </p>
      ) : snapshot.isError ? (
        <ErrorNotice error={snapshot.error} />
      ) : null}
      {snapshot.data === undefined || snapshot.isError ? null : <Usage snapshot={snapshot.data} />}
      <ApiPanel
        call={callOf('/v1/tenants/{id}/entitlements', { path: { id: tenantId } })}
        data={snapshot.data ?? refused?.problem ?? null}
      />
    </>
  );
}

function Usage({ snapshot }: { snapshot: Snapshot }) {
  const limits = Object.entries(snapshot.limits);
  return (
    <>
      <dl className="facts">
        <dt>State</dt>
        <dd data-testid="portal-state">
          <StateBadge state={snapshot.state} />
          {snapshot.reason === null ? '' : ` (${snapshot.reason})`}
        </dd>
        <dt>Plan</dt>
        <dd>{snapshot.plan === null ? 'none' : `${snapshot.plan.key} v${snapshot.plan.version}`}</dd>
        <dt>Seats</dt>
        <dd>{snapshot.seats}</dd>
        <dt>Period</dt>
        <dd>
          {snapshot.period.start} to {snapshot.period.end}
        </dd>
        {snapshot.trial_ends_at === null ? null : (
          <>
            <dt>Trial ends</dt>
            <dd>{snapshot.trial_ends_at}</dd>
          </>
        )}
      </dl>
      <h2>Usage against limits</h2>
      {limits.length === 0 ? (
        <p>Your plan sets no limits.</p>
      ) : (
        <table>
          <thead>
            <tr>
              <th scope="col">Limit</th>
              <th scope="col">Used</th>
              <th scope="col">Of</th>
              <th scope="col">Usage</th>
              <th scope="col">Resets</th>
            </tr>
          </thead>
          <tbody>
            {limits.map(([key, limit]) => (
              <tr key={key}>
                <th scope="row">{key}</th>
                <td>{limit.used ?? 'not known yet'}</td>
                <td>{limit.limit ?? 'unlimited'}</td>
                <td>
                  {limit.limit === null || limit.used === null ? (
                    '—'
                  ) : (
                    <meter
                      className="meter"
                      min={0}
                      max={limit.limit}
                      value={Math.min(limit.used, limit.limit)}
                      aria-label={`${key}: ${limit.used} of ${limit.limit}`}
                    />
                  )}
                </td>
                <td>{limit.resets_at ?? '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
