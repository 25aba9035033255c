import { useQuery } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import { callOf, get } from '../../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../../shared/components/index.ts';
import { definitionOf, PlanDefinitionView } from './plan-definition-view.tsx';

const route = getRouteApi('/plans/$key');

/**
 * A plan: its versions (with how many tenants are on each) and one version in full, the latest
 * unless the URL's `version` names another; each version links to its diff with the one before.
 */
export function PlanPage() {
  const { key } = route.useParams();
  const { version } = route.useSearch();
  const plan = useQuery({
    queryKey: ['plan', key],
    queryFn: () => get('/v1/plans/{key}', { path: { key } }),
  });
  const shown = version ?? plan.data?.latest_version;
  const detail = useQuery({
    queryKey: ['plan', key, 'version', shown],
    queryFn: () => get('/v1/plans/{key}/versions/{version}', { path: { key, version: shown as number } }),
    enabled: shown !== undefined,
  });
  return (
    <>
      <h1>Plan {key}</h1>
      <p>
        <Link to="/plans">All plans</Link>
      </p>
      {plan.isPending ? <Loading what="the plan" /> : null}
      {plan.isError ? <ErrorNotice error={plan.error} /> : null}
      {plan.data === undefined ? null : (
        <>
          <h2>Versions</h2>
          <table>
            <caption className="visually-hidden">Versions of {key}</caption>
            <thead>
              <tr>
                <th scope="col">Version</th>
                <th scope="col">Created</th>
                <th scope="col">Tenants on it</th>
                <th scope="col">Changes</th>
              </tr>
            </thead>
            <tbody>
              {[...plan.data.versions].reverse().map((v) => (
                <tr key={v.version}>
                  <th scope="row">
                    <Link
                      to="/plans/$key"
                      params={{ key }}
                      search={{ version: v.version }}
                      aria-current={v.version === shown ? 'true' : undefined}
                    >
                      v{v.version}
                    </Link>
                    {v.version === plan.data.latest_version ? ' (latest)' : ''}
                  </th>
                  <td>{v.created_at}</td>
                  <td>{v.tenants}</td>
                  <td>
                    {v.version === 1 ? (
                      'first version'
                    ) : (
                      <Link
                        to="/plans/$key/diff"
                        params={{ key }}
                        search={{ from: v.version - 1, to: v.version }}
                      >
                        Diff v{v.version - 1} → v{v.version}
                      </Link>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          {plan.data.versions.length < 2 ? null : (
            <p>
              <Link to="/plans/$key/diff" params={{ key }} search={{ from: 1, to: plan.data.latest_version }}>
                Compare any two versions
              </Link>
            </p>
          )}
          <p>
            Tenants stay on the version they are on until they are moved to another (
            <code>POST /v1/tenants/{'{id}'}/change-plan</code>); new subscribers get the latest.
          </p>
          <ApiPanel label="Plan API" call={callOf('/v1/plans/{key}', { path: { key } })} data={plan.data} />
        </>
      )}
      {detail.isError ? <ErrorNotice error={detail.error} /> : null}
      {detail.data === undefined ? null : (
        <section aria-labelledby="version-heading">
          <h2 id="version-heading">Version {detail.data.version}</h2>
          <p>
            Created {detail.data.created_at}, checksum <code>{detail.data.checksum.slice(0, 12)}</code>
          </p>
          <PlanDefinitionView definition={definitionOf(detail.data.definition)} />
          <ApiPanel
            label="Version API"
            call={callOf('/v1/plans/{key}/versions/{version}', {
              path: { key, version: detail.data.version },
            })}
            data={detail.data}
          />
        </section>
      )}
    </>
  );
}
