import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import type { ResponseBody } from '@tenantry/core/api';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading, StateBadge } from '../shared/components/index.ts';
import { PLACEMENTS, TENANT_STATES } from '../shared/tenants.ts';
import { FleetSignals } from './fleet-signals.tsx';
import { SignupFunnel } from './signup-funnel.tsx';

type Counts = ResponseBody<'/v1/tenant-counts', 'get'>;

/** The fleet at a glance: how many tenants are in each state and on each placement, and what needs a look. */
export function FleetHome() {
  const counts = useQuery({ queryKey: ['fleet'], queryFn: () => get('/v1/tenant-counts') });
  return (
    <>
      <h1>Fleet</h1>
      {counts.isPending ? <Loading what="the fleet" /> : null}
      {counts.isError ? <ErrorNotice error={counts.error} /> : null}
      {counts.data === undefined ? null : <FleetCounts counts={counts.data} />}
      <FleetSignals />
      <SignupFunnel />
    </>
  );
}

function FleetCounts({ counts }: { counts: Counts }) {
  return (
    <>
      <p data-testid="fleet-total">
        {counts.total} tenant{counts.total === 1 ? '' : 's'}
      </p>
      <div className="grid">
        <table>
          <caption>By state</caption>
          <thead>
            <tr>
              <th scope="col">State</th>
              <th scope="col">Tenants</th>
            </tr>
          </thead>
          <tbody>
            {TENANT_STATES.map((state) => (
              <tr key={state}>
                <th scope="row">
                  <Link to="/tenants" search={{ state }}>
                    <StateBadge state={state} />
                  </Link>
                </th>
                <td data-testid={`state-${state}`}>{counts.by_state[state]}</td>
              </tr>
            ))}
          </tbody>
        </table>
        <table>
          <caption>By placement</caption>
          <thead>
            <tr>
              <th scope="col">Placement</th>
              <th scope="col">Tenants</th>
            </tr>
          </thead>
          <tbody>
            {PLACEMENTS.map((placement) => (
              <tr key={placement}>
                <th scope="row">
                  <Link to="/tenants" search={{ placement }}>
                    {placement}
                  </Link>
                </th>
                <td data-testid={`placement-${placement}`}>{counts.by_placement[placement]}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ApiPanel call={callOf('/v1/tenant-counts')} data={counts} />
    </>
  );
}
