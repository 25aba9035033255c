import { useQuery } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { callOf, get } from '../../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../../shared/components/index.ts';

/** Every plan with its latest version, and the way to the plan file editor. */
export function PlansList() {
  const plans = useQuery({ queryKey: ['plans'], queryFn: () => get('/v1/plans') });
  return (
    <>
      <h1>Plans</h1>
      <p>
        <Link to="/plans/edit">Edit the plan file…</Link> (validate, preview the impact, apply)
      </p>
      {plans.isPending ? <Loading what="the plans" /> : null}
      {plans.isError ? <ErrorNotice error={plans.error} /> : null}
      {plans.data === undefined ? null : (
        <>
          {plans.data.data.length === 0 ? (
            <p>No plans yet: apply a plan file to create them.</p>
          ) : (
            <table>
              <caption className="visually-hidden">Plans</caption>
              <thead>
                <tr>
                  <th scope="col">Plan</th>
                  <th scope="col">Name</th>
                  <th scope="col">Latest version</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {plans.data.data.map((plan) => (
                  <tr key={plan.id}>
                    <th scope="row">
                      <Link to="/plans/$key" params={{ key: plan.key }}>
                        {plan.key}
                      </Link>
                    </th>
                    <td>{plan.name}</td>
                    <td>v{plan.latest_version}</td>
                    <td>{plan.updated_at}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ApiPanel call={callOf('/v1/plans')} data={plans.data} />
        </>
      )}
    </>
  );
}
