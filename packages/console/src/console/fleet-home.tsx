import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading, StateBadge } from '../shared/components/index.ts';
import { PLACEMENTS, TENANT_STATES, type Tenant } from '../shared/tenants.ts';

/** Pages of the tenant list read to count the fleet: up to this many tenants are counted. */
const MAX_PAGES = 10;
const PAGE = 100;

interface Fleet {
  readonly tenants: Tenant[];
  /** More tenants exist than were counted. */
  readonly partial: boolean;
}

/**
 * Reads the tenant list (the API has no count) a page after another, up to
 * {@link MAX_PAGES} pages, and counts what it read.
 */
async function readFleet(): Promise<Fleet> {
  const tenants: Tenant[] = [];
  let cursor: string | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const answer = await get('/v1/tenants', { query: { limit: PAGE, cursor } });
    tenants.push(...answer.data);
    if (answer.next_cursor === null) return { tenants, partial: false };
    cursor = answer.next_cursor;
  }
  return { tenants, partial: true };
}

function countBy<K extends string>(tenants: readonly Tenant[], key: (t: Tenant) => K): Map<K, number> {
  const counts = new Map<K, number>();
  for (const tenant of tenants) counts.set(key(tenant), (counts.get(key(tenant)) ?? 0) + 1);
  return counts;
}

/** The fleet at a glance: how many tenants are in each state and on each placement. */
export function FleetHome() {
  const fleet = useQuery({ queryKey: ['fleet'], queryFn: readFleet });
  return (
    <>
      <h1>Fleet</h1>
      {fleet.isPending ? <Loading what="the fleet" /> : null}
      {fleet.isError ? <ErrorNotice error={fleet.error} /> : null}
      {fleet.data === undefined ? null : <FleetCounts fleet={fleet.data} />}
    </>
  );
}

function FleetCounts({ fleet }: { fleet: Fleet }) {
  const byState = countBy(fleet.tenants, (t) => t.state);
  const byPlacement = countBy(fleet.tenants, (t) => t.placement);
  const unhealthy = fleet.tenants.filter((t) => t.data_plane_health === 'unhealthy').length;
  return (
    <>
      <p data-testid="fleet-total">
        {fleet.partial ? `The first ${fleet.tenants.length} tenants` : `${fleet.tenants.length} tenants`}
        {unhealthy > 0 ? `, ${unhealthy} on an unhealthy data plane` : ''}
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
            {TENANT_STATES.filter((state) => byState.has(state)).map((state) => (
              <tr key={state}>
                <th scope="row">
                  <Link to="/tenants" search={{ state }}>
                    <StateBadge state={state} />
                  </Link>
                </th>
                <td data-testid={`state-${state}`}>{byState.get(state)}</td>
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
            {PLACEMENTS.filter((placement) => byPlacement.has(placement)).map((placement) => (
              <tr key={placement}>
                <th scope="row">
                  <Link to="/tenants" search={{ placement }}>
                    {placement}
                  </Link>
                </th>
                <td data-testid={`placement-${placement}`}>{byPlacement.get(placement)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <ApiPanel call={callOf('/v1/tenants', { query: { limit: PAGE } })} data={fleet.tenants} />
    </>
  );
}
