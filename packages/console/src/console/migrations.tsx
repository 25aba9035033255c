import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import { useState } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, type Column, ErrorNotice, Loading, StateBadge } from '../shared/components/index.ts';
import { PagedTable } from '../shared/components/paged-table.tsx';
import { VirtualTable } from '../shared/components/virtual-table.tsx';

type MigrationRun = Schemas['MigrationRun'];
type RunTarget = Schemas['MigrationRunTarget'];
type Stage = RunTarget['stage'];

const PAGE = 50;
const runRoute = getRouteApi('/migrations/$id');

/** A target's stages in the order it moves through them, as the API names them. */
const STAGES = [
  'pending',
  'prechecked',
  'applying',
  'dry_run',
  'applied',
  'verified',
  'failed',
  'skipped',
] as const satisfies readonly Stage[];

/** "3 verified, 1 failed, 2 pending": the stages a run's targets are in, those with none left out. */
function countsText(counts: MigrationRun['counts']): string {
  const parts = STAGES.filter((stage) => counts[stage] > 0).map(
    (stage) => `${counts[stage]} ${stage.replace('_', ' ')}`,
  );
  return parts.length === 0 ? 'no targets' : parts.join(', ');
}

const RUN_COLUMNS: readonly Column<MigrationRun>[] = [
  {
    header: 'Run',
    cell: (r) => (
      <Link to="/migrations/$id" params={{ id: r.id }}>
        {r.id}
      </Link>
    ),
  },
  { header: 'State', cell: (r) => <StateBadge state={r.state} /> },
  { header: 'Version', cell: (r) => `${r.target_version}${r.dry_run ? ' (dry run)' : ''}` },
  { header: 'Targets', cell: (r) => `${r.target_count}: ${countsText(r.counts)}` },
  { header: 'Started', cell: (r) => r.created_at },
];

/** The fleet's app migration runs, newest first, each with its targets counted per stage. */
export function MigrationsPage() {
  const query = { limit: PAGE };
  const pages = useCursorPages(['migration-runs'], (cursor) =>
    get('/v1/migration-runs', { query: { ...query, cursor } }),
  );
  return (
    <>
      <h1>Migrations</h1>
      <p>
        Runs of the app's migrations across the fleet, as the coordinator (<code>tenantry app rollout</code>)
        reports them.
      </p>
      <PagedTable
        pages={pages}
        what="migration runs"
        noun="run"
        empty="No migration run yet."
        countId="run-count"
        label="Migration runs"
        columns={RUN_COLUMNS}
        rowKey={(r) => r.id}
        call={callOf('/v1/migration-runs', { query })}
      />
    </>
  );
}

/** Refreshes what shows the run once it changed. */
function useRunChanged(runId: string) {
  const client = useQueryClient();
  return () => {
    for (const key of [['migration-run', runId], ['migration-runs'], ['fleet-signals']])
      client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
  };
}

/**
 * Pauses a running run (no further target starts; those started finish) or resumes a paused one:
 * its coordinator, which waits while the run is paused, goes on.
 */
function PauseResume({ run }: { run: MigrationRun }) {
  const changed = useRunChanged(run.id);
  const change = useMutation({
    mutationFn: (action: 'pause' | 'resume') =>
      action === 'pause'
        ? post('/v1/migration-runs/{id}/pause', { path: { id: run.id } })
        : post('/v1/migration-runs/{id}/resume', { path: { id: run.id } }),
    onSuccess: changed,
  });
  if (run.state !== 'running' && run.state !== 'paused') return null;
  const action = run.state === 'running' ? 'pause' : 'resume';
  return (
    <section aria-label="Run">
      <button type="button" onClick={() => change.mutate(action)} disabled={change.isPending}>
        {action === 'pause' ? 'Pause run' : 'Resume run'}
      </button>
      {change.isError ? <ErrorNotice error={change.error} /> : null}
    </section>
  );
}

/** Sets a failed target pending again, for the run's coordinator to run it again before it ends. */
function RetryTarget({ runId, target }: { runId: string; target: RunTarget }) {
  const changed = useRunChanged(runId);
  const retry = useMutation({
    mutationFn: () =>
      post('/v1/migration-runs/{id}/targets/{target}/retry', { path: { id: runId, target: target.target } }),
    onSuccess: changed,
  });
  if (retry.isError) return <ErrorNotice error={retry.error} />;
  return (
    <button
      type="button"
      onClick={() => retry.mutate()}
      disabled={retry.isPending}
      aria-label={`Retry ${target.target}`}
    >
      Retry
    </button>
  );
}

const TARGET_COLUMNS: readonly Column<RunTarget>[] = [
  {
    header: 'Target',
    cell: (t) =>
      t.tenant_id === null ? (
        'pool schema'
      ) : (
        <Link to="/tenants/$id" params={{ id: t.tenant_id }}>
          {t.tenant_id}
        </Link>
      ),
  },
  { header: 'Placement', cell: (t) => `${t.placement}${t.canary ? ', canary' : ''}` },
  { header: 'Stage', cell: (t) => <StateBadge state={t.stage} /> },
  {
    header: 'Version',
    cell: (t) =>
      t.version_before === null && t.version_after === null
        ? ''
        : `${t.version_before ?? '?'} → ${t.version_after ?? '?'}`,
  },
  {
    header: 'Error',
    cell: (t) =>
      t.error === null
        ? ''
        : `${t.error.code}${t.error.migration === null ? '' : ` at ${t.error.migration.name}`}: ${t.error.message}`,
  },
  { header: 'Updated', cell: (t) => t.updated_at },
];

/** The target columns, with a retry for each failed target while the run has not ended. */
function targetColumns(run: MigrationRun): readonly Column<RunTarget>[] {
  if (run.state !== 'running' && run.state !== 'paused') return TARGET_COLUMNS;
  return [
    ...TARGET_COLUMNS,
    {
      header: 'Action',
      cell: (t) => (t.stage === 'failed' ? <RetryTarget runId={run.id} target={t} /> : null),
    },
  ];
}

/**
 * One run's progress: its counts per stage and each target (which succeeded, failed or waits, and
 * why), the targets shown in one stage when one is chosen; the run paused or resumed, a failed
 * target retried while the run has not ended. Refreshed every 5 seconds while it has not ended.
 */
export function MigrationRunPage() {
  const { id } = runRoute.useParams();
  const [stage, setStage] = useState<Stage | ''>('');
  const run = useQuery({
    queryKey: ['migration-run', id],
    queryFn: () => get('/v1/migration-runs/{id}', { path: { id } }),
    refetchInterval: (query) =>
      query.state.data?.state === 'running' || query.state.data?.state === 'paused' ? 5_000 : false,
  });
  const shown = run.data?.targets.filter((t) => stage === '' || t.stage === stage) ?? [];
  return (
    <>
      {run.isPending ? <Loading what="the migration run" /> : null}
      {run.isError ? (
        <>
          <h1>{id}</h1>
          <ErrorNotice error={run.error} />
        </>
      ) : null}
      {run.data === undefined ? null : (
        <>
          <h1>
            Migration run {run.data.id} <StateBadge state={run.data.state} />
          </h1>
          <dl className="facts">
            <dt>To version</dt>
            <dd>
              {run.data.target_version}
              {run.data.dry_run ? ' (dry run: nothing committed)' : ''}
            </dd>
            <dt>Canaries</dt>
            <dd>{run.data.canary ?? 'none'}</dd>
            <dt>Started by</dt>
            <dd>{run.data.started_by}</dd>
            <dt>Started</dt>
            <dd>{run.data.created_at}</dd>
            <dt>Finished</dt>
            <dd>{run.data.finished_at ?? 'not yet'}</dd>
            <dt>Progress</dt>
            <dd data-testid="run-progress">
              {run.data.target_count} targets: {countsText(run.data.counts)}
            </dd>
          </dl>
          <PauseResume run={run.data} />
          <form className="filters" aria-label="Show targets" onSubmit={(event) => event.preventDefault()}>
            <label>
              Stage
              <select value={stage} onChange={(event) => setStage(event.target.value as Stage | '')}>
                <option value="">any</option>
                {STAGES.map((s) => (
                  <option key={s} value={s}>
                    {s} ({run.data.counts[s]})
                  </option>
                ))}
              </select>
            </label>
          </form>
          {shown.length === 0 ? (
            <p>No target is in that stage.</p>
          ) : (
            <VirtualTable
              label="Targets"
              rows={shown}
              columns={targetColumns(run.data)}
              rowKey={(t) => t.target}
            />
          )}
          <ApiPanel call={callOf('/v1/migration-runs/{id}', { path: { id } })} data={run.data} />
        </>
      )}
    </>
  );
}
