import { useQuery } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import { callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';

type Funnel = ResponseBody<'/v1/self-serve/funnel', 'get'>;

/** Seconds as the largest unit that reads well: 42 s, 3 min 5 s, 2 h 10 min. */
function duration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/**
 * Self-serve sign-up over the last seven days, step by step (`GET /v1/self-serve/funnel`): who
 * signed up, verified, started a trial, completed its wizard and reached first value (the
 * tenant's first usage event), and the median time from a trial's start to it.
 */
export function SignupFunnel() {
  const funnel = useQuery({ queryKey: ['signup-funnel'], queryFn: () => get('/v1/self-serve/funnel') });
  return (
    <section aria-labelledby="signup-funnel">
      <h2 id="signup-funnel">Self-serve sign-up, last 7 days</h2>
      {funnel.isPending ? <Loading what="the sign-up funnel" /> : null}
      {funnel.isError ? <ErrorNotice error={funnel.error} /> : null}
      {funnel.data === undefined ? null : <Steps funnel={funnel.data} />}
      <ApiPanel
        call={callOf('/v1/self-serve/funnel')}
        data={funnel.data ?? null}
        label="Sign-up funnel API"
      />
    </section>
  );
}

function Steps({ funnel }: { funnel: Funnel }) {
  const steps = [
    ['signups', 'Signed up', funnel.signups],
    ['verified', 'Verified their email', funnel.verified],
    ['tenants-created', 'Started a trial', funnel.tenants_created],
    ['wizard-completed', 'Completed setup', funnel.wizard_completed],
    ['first-value', 'Reached first value', funnel.first_value],
  ] as const;
  return (
    <table>
      <caption>Since {funnel.from}</caption>
      <thead>
        <tr>
          <th scope="col">Step</th>
          <th scope="col">People</th>
        </tr>
      </thead>
      <tbody>
        {steps.map(([id, label, count]) => (
          <tr key={id}>
            <th scope="row">{label}</th>
            <td data-testid={`funnel-${id}`}>{count}</td>
          </tr>
        ))}
        <tr>
          <th scope="row">Median time to first value</th>
          <td data-testid="funnel-median">
            {funnel.median_seconds_to_first_value === null
              ? 'none yet'
              : duration(funnel.median_seconds_to_first_value)}
          </td>
        </tr>
      </tbody>
    </table>
  );
}
