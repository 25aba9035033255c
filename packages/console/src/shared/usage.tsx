// Loaded on its own (React.lazy in the operator's tenant page and the portal's usage page):
// recharts is most of this chunk's weight, and only these views draw a chart, so no other page
// carries it. One component for both, so that an operator and the tenant's members see the same
// numbers and charts.
import { useQuery } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import {
  Bar,
  CartesianGrid,
  ComposedChart,
  Line,
  ReferenceLine,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { callOf, get } from './api.ts';
import { ApiPanel, ErrorNotice, Loading } from './components/index.ts';
import { burnForecast, type Forecast } from './forecast.ts';
import type { TenantRef } from './tenants.ts';

type Snapshot = ResponseBody<'/v1/tenants/{id}/entitlements', 'get'>;
type Limit = Snapshot['limits'][string];

/**
 * The tenant's usage against each metered limit of its entitlements: the period's usage as a bar,
 * the period's daily series as a chart, and when the limit would be reached at the rate so far.
 */
export function TenantUsage({ tenant }: { tenant: TenantRef }) {
  const snapshot = useQuery({
    queryKey: ['entitlements', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/entitlements', { path: { id: tenant.id } }),
  });
  const metered = Object.entries(snapshot.data?.limits ?? {}).filter(([, limit]) => limit.kind === 'metered');
  return (
    <section aria-labelledby="usage-heading">
      <h2 id="usage-heading">Usage against limits</h2>
      <button type="button" onClick={() => snapshot.refetch()} disabled={snapshot.isFetching}>
        Refresh
      </button>
      {snapshot.isPending ? <Loading what="the entitlements" /> : null}
      {snapshot.isError ? <ErrorNotice error={snapshot.error} /> : null}
      {snapshot.data === undefined ? null : (
        <>
          <p>
            Period {snapshot.data.period.start} to {snapshot.data.period.end}
          </p>
          {snapshot.data.active ? (
            metered.length === 0 ? (
              <p>The plan sets no metered limit.</p>
            ) : null
          ) : (
            // An inactive tenant has no limits in its snapshot (docs/sdk.md): nothing to draw.
            <p data-testid="usage-inactive">
              The tenant is not active ({snapshot.data.reason ?? snapshot.data.state}): its entitlements grant
              no limit while it is.
            </p>
          )}
          {metered.map(([meter, limit]) => (
            <MeterUsage
              key={meter}
              tenant={tenant}
              meter={meter}
              limit={limit}
              period={snapshot.data.period}
            />
          ))}
          <ApiPanel
            label="API: entitlements"
            call={callOf('/v1/tenants/{id}/entitlements', { path: { id: tenant.shown } })}
            data={snapshot.data}
          />
        </>
      )}
    </section>
  );
}

function MeterUsage({
  tenant,
  meter,
  limit,
  period,
}: {
  tenant: TenantRef;
  meter: string;
  limit: Limit;
  period: Snapshot['period'];
}) {
  const query = { meter, window: 'day' as const };
  const usage = useQuery({
    queryKey: ['usage', tenant.id, meter],
    queryFn: () => get('/v1/tenants/{id}/usage', { path: { id: tenant.id }, query }),
  });
  const used = limit.used ?? usage.data?.total;
  const forecast =
    used === undefined
      ? undefined
      : burnForecast({
          used,
          limit: limit.limit,
          periodStart: new Date(period.start),
          periodEnd: new Date(period.end),
          now: new Date(),
        });
  let running = 0;
  const points = (usage.data?.series ?? []).map((point) => {
    running += point.value;
    return { day: point.start.slice(0, 10), value: point.value, total: running };
  });
  const headingId = `usage-${meter}`;
  return (
    <section aria-labelledby={headingId} className="meter-usage" data-testid={`usage-${meter}`}>
      <h3 id={headingId}>{meter}</h3>
      <p>
        <span data-testid="usage-used">{used ?? 'not known yet'}</span> of{' '}
        <span data-testid="usage-limit">{limit.limit ?? 'unlimited'}</span>
        {limit.enforcement === 'soft' ? ' (soft limit)' : ''}{' '}
        {limit.limit === null || used === undefined ? null : (
          <meter
            className="meter"
            min={0}
            max={limit.limit}
            value={Math.min(used, limit.limit)}
            aria-label={`${meter}: ${used} of ${limit.limit}`}
          />
        )}
      </p>
      {forecast === undefined ? null : <p data-testid="usage-forecast">{describe(forecast)}</p>}
      {usage.isPending ? <Loading what={`the usage of ${meter}`} /> : null}
      {usage.isError ? <ErrorNotice error={usage.error} /> : null}
      {usage.data === undefined ? null : (
        <>
          <figure className="chart">
            <figcaption>
              {meter} per day this period{usage.data.unit === null ? '' : ` (${usage.data.unit})`}: bars each
              day, the line the running total{limit.limit === null ? '' : ', the dashed line the limit'}
            </figcaption>
            <ResponsiveContainer width="100%" height={240}>
              <ComposedChart data={points} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="day" />
                <YAxis />
                <Tooltip />
                <Bar dataKey="value" name="that day" fill="#5b8def" isAnimationActive={false} />
                <Line
                  dataKey="total"
                  name="running total"
                  stroke="#d9822b"
                  dot={false}
                  isAnimationActive={false}
                />
                {limit.limit === null ? null : (
                  <ReferenceLine
                    y={limit.limit}
                    stroke="#c0392b"
                    strokeDasharray="6 3"
                    ifOverflow="extendDomain"
                  />
                )}
              </ComposedChart>
            </ResponsiveContainer>
          </figure>
          <ApiPanel
            label={`API: usage of ${meter}`}
            call={callOf('/v1/tenants/{id}/usage', { path: { id: tenant.shown }, query })}
            data={usage.data}
          />
        </>
      )}
    </section>
  );
}

/** The forecast in words; dates as the API writes them (UTC). */
function describe(forecast: Forecast): string {
  switch (forecast.kind) {
    case 'unlimited':
      return 'Unlimited: nothing to reach.';
    case 'reached':
      return 'The limit is reached.';
    case 'reaches':
      return `At this period's rate so far, reaches its limit on ${forecast.at.toISOString().slice(0, 10)}.`;
    case 'not_within_period':
      return "At this period's rate so far, not within this period.";
  }
}
