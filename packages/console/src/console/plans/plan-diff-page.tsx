import { useQuery } from '@tanstack/react-query';
import { getRouteApi, Link, useNavigate } from '@tanstack/react-router';
import type { PlanDefinition } from '@tenantry/core';
import { callOf, get } from '../../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../../shared/components/index.ts';
import { definitionOf } from './plan-definition-view.tsx';
import { DIFF_SECTIONS, type DiffEntry, type DiffSection, diffPlanVersions } from './plan-diff.ts';

const route = getRouteApi('/plans/$key/diff');

const SECTION_NAMES: Record<DiffSection, string> = {
  plan: 'Plan settings',
  features: 'Features',
  limits: 'Limits',
  prices: 'Prices',
  config: 'Config',
  meters: 'Meters',
  rate_limits: 'Rate limits',
};

/** The diff between any two versions of a plan, both in the URL (`?from=1&to=3`). */
export function PlanDiffPage() {
  const { key } = route.useParams();
  const search = route.useSearch();
  const navigate = useNavigate();
  const plan = useQuery({
    queryKey: ['plan', key],
    queryFn: () => get('/v1/plans/{key}', { path: { key } }),
  });
  const latest = plan.data?.latest_version;
  // Without versions in the URL: the latest against the one before it.
  const to = search.to ?? latest;
  const from = search.from ?? (to === undefined ? undefined : Math.max(1, to - 1));
  const version = (n: number | undefined) => ({
    queryKey: ['plan', key, 'version', n],
    queryFn: () => get('/v1/plans/{key}/versions/{version}', { path: { key, version: n as number } }),
    enabled: n !== undefined,
  });
  const before = useQuery(version(from));
  const after = useQuery(version(to));
  const versions = plan.data?.versions.map((v) => v.version) ?? [];
  const pick = (which: 'from' | 'to', value: string) => {
    navigate({
      to: '/plans/$key/diff',
      params: { key },
      search: { from, to, [which]: Number(value) },
    }).catch((error: unknown) => console.error(error));
  };
  return (
    <>
      <h1>
        Plan {key}: v{from ?? '…'} → v{to ?? '…'}
      </h1>
      <p>
        <Link to="/plans/$key" params={{ key }}>
          Back to {key}
        </Link>
      </p>
      {plan.isError ? <ErrorNotice error={plan.error} /> : null}
      {versions.length === 0 ? null : (
        <div className="filters">
          <label>
            From version
            <select value={from} onChange={(event) => pick('from', event.target.value)}>
              {versions.map((v) => (
                <option key={v} value={v}>
                  v{v}
                </option>
              ))}
            </select>
          </label>
          <label>
            To version
            <select value={to} onChange={(event) => pick('to', event.target.value)}>
              {versions.map((v) => (
                <option key={v} value={v}>
                  v{v}
                </option>
              ))}
            </select>
          </label>
        </div>
      )}
      {before.isPending || after.isPending ? <Loading what="the versions" /> : null}
      {before.isError ? <ErrorNotice error={before.error} /> : null}
      {after.isError ? <ErrorNotice error={after.error} /> : null}
      {before.data === undefined || after.data === undefined ? null : (
        <>
          <PlanDiff
            before={definitionOf(before.data.definition)}
            after={definitionOf(after.data.definition)}
          />
          <ApiPanel
            label={`Version ${before.data.version} API`}
            call={callOf('/v1/plans/{key}/versions/{version}', {
              path: { key, version: before.data.version },
            })}
            data={before.data}
          />
          <ApiPanel
            label={`Version ${after.data.version} API`}
            call={callOf('/v1/plans/{key}/versions/{version}', {
              path: { key, version: after.data.version },
            })}
            data={after.data}
          />
        </>
      )}
    </>
  );
}

const CHANGE_MARK: Record<DiffEntry['change'], string> = {
  added: '+ added',
  removed: '− removed',
  changed: '~ changed',
};

/** What differs between two definitions, a table per section; each change marked in words and a sign, not colour alone. */
export function PlanDiff({ before, after }: { before: PlanDefinition; after: PlanDefinition }) {
  const diff = diffPlanVersions(before, after);
  if (diff.length === 0) return <p data-testid="diff-empty">No differences.</p>;
  return (
    <div className="plan-diff">
      <p data-testid="diff-summary">
        {diff.filter((e) => e.change === 'added').length} added,{' '}
        {diff.filter((e) => e.change === 'removed').length} removed,{' '}
        {diff.filter((e) => e.change === 'changed').length} changed
      </p>
      {DIFF_SECTIONS.map((section) => {
        const entries = diff.filter((entry) => entry.section === section);
        if (entries.length === 0) return null;
        return (
          <table key={section} data-testid={`diff-${section}`}>
            <caption>{SECTION_NAMES[section]}</caption>
            <thead>
              <tr>
                <th scope="col">Item</th>
                <th scope="col">Change</th>
                <th scope="col">Field</th>
                <th scope="col">Before</th>
                <th scope="col">After</th>
              </tr>
            </thead>
            <tbody>
              {entries.flatMap((entry) =>
                entry.fields.map((field, i) => (
                  <tr key={`${entry.key}:${field.field}`} className={`diff-${entry.change}`}>
                    {i === 0 ? (
                      <>
                        <th scope="rowgroup" rowSpan={entry.fields.length}>
                          {entry.key}
                        </th>
                        <td rowSpan={entry.fields.length}>{CHANGE_MARK[entry.change]}</td>
                      </>
                    ) : null}
                    <td>{field.field}</td>
                    <td className="diff-before">{field.before ?? ''}</td>
                    <td className="diff-after">{field.after ?? ''}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        );
      })}
    </div>
  );
}
