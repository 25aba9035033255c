import { useQueryClient } from '@tanstack/react-query';
import { Link } from '@tanstack/react-router';
import { type FormEvent, useState, useSyncExternalStore } from 'react';
import { ApiError, post } from '../shared/api.ts';
import { TypedConfirm } from '../shared/components/index.ts';
import {
  type BulkAction,
  type BulkOutcome,
  type BulkResult,
  type BulkTarget,
  bulkPhrase,
  outcomeOf,
  runBulk,
} from './bulk.ts';
import { parseTenantSearch, type TenantSearch } from './routes.tsx';
import { describeFilters, viewFilters } from './saved-views.ts';
import { deleteView, storeView, viewsChanged } from './saved-views-store.ts';

/**
 * The tenant list's saved views: the filters shown, saved under a name, and each saved view a
 * link that opens the list with its filters (kept in this browser: see saved-views.ts).
 */
export function SavedViews({ search }: { search: TenantSearch }) {
  const views = useSyncExternalStore(viewsChanged.subscribe, viewsChanged.snapshot);
  const [problem, setProblem] = useState<string | undefined>();
  const [saved, setSaved] = useState<string | undefined>();
  const save = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = event.currentTarget;
    const name = String(new FormData(form).get('view-name') ?? '');
    const refused = storeView(name, viewFilters(search));
    setProblem(refused);
    setSaved(refused === undefined ? name.trim() : undefined);
    if (refused === undefined) form.reset();
  };
  return (
    <section aria-labelledby="saved-views" className="saved-views">
      <h2 id="saved-views">Saved views</h2>
      <form className="filters" onSubmit={save} aria-label="Save this view">
        <label>
          Name for these filters ({describeFilters(viewFilters(search))})
          <input name="view-name" autoComplete="off" maxLength={60} />
        </label>
        <button type="submit">Save view</button>
        <span role="status">{saved === undefined ? '' : `Saved "${saved}"`}</span>
      </form>
      {problem === undefined ? null : (
        <p role="alert" className="error">
          {problem}
        </p>
      )}
      {views.length === 0 ? (
        <p className="who">No saved views in this browser yet.</p>
      ) : (
        <ul className="view-list">
          {views.map((view) => (
            <li key={view.name}>
              <Link to="/tenants" search={parseTenantSearch(view.filters)}>
                {view.name}
              </Link>{' '}
              <span className="who">{describeFilters(view.filters)}</span>{' '}
              <button
                type="button"
                onClick={() => deleteView(view.name)}
                aria-label={`Remove view ${view.name}`}
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

/** One tenant's suspend or resume through its own API call, its failure kept with why. */
async function perform(action: BulkAction, target: BulkTarget): Promise<BulkOutcome> {
  try {
    if (action === 'suspend') await post('/v1/tenants/{id}/suspend', { path: { id: target.id }, body: {} });
    else await post('/v1/tenants/{id}/resume', { path: { id: target.id }, body: {} });
    return { kind: 'done' };
  } catch (error) {
    if (error instanceof ApiError) {
      return outcomeOf(action, { code: error.code, message: error.message, state: error.problem.state });
    }
    return { kind: 'failed', reason: error instanceof Error ? error.message : String(error) };
  }
}

function outcomeText(action: BulkAction, outcome: BulkOutcome): string {
  if (outcome.kind === 'done') return action === 'suspend' ? 'suspended' : 'resumed';
  if (outcome.kind === 'already') return `already ${action === 'suspend' ? 'suspended' : 'active'}`;
  return `failed: ${outcome.reason}`;
}

/**
 * Suspends or resumes the selected tenants, behind their count typed out ("suspend 12
 * tenants"), one API call per tenant (each idempotent: one already in the state counts as done);
 * each tenant's result is listed as it comes, those that failed with the API's reason.
 */
export function BulkActions({ targets, onClear }: { targets: readonly BulkTarget[]; onClear: () => void }) {
  const client = useQueryClient();
  const [asking, setAsking] = useState<BulkAction | undefined>();
  const [run, setRun] = useState<{ action: BulkAction; total: number; results: BulkResult[] } | undefined>();
  const running = run !== undefined && run.results.length < run.total;
  const start = (action: BulkAction) => {
    const chosen = [...targets];
    setAsking(undefined);
    setRun({ action, total: chosen.length, results: [] });
    runBulk(
      chosen,
      (target) => perform(action, target),
      (result) => setRun((now) => (now === undefined ? now : { ...now, results: [...now.results, result] })),
    )
      .then(() => {
        onClear();
        for (const key of [['tenants'], ['fleet'], ['tenant']]) {
          client.invalidateQueries({ queryKey: key }).catch((error: unknown) => console.warn(error));
        }
      })
      .catch((error: unknown) => console.error('the bulk action stopped', error));
  };
  const failed = run?.results.filter((result) => result.outcome.kind === 'failed').length ?? 0;
  return (
    <section aria-label="Bulk actions" className="bulk">
      <div className="filters">
        <span role="status" data-testid="selected-count">
          {targets.length} selected
        </span>
        <button type="button" disabled={targets.length === 0 || running} onClick={() => setAsking('suspend')}>
          Suspend selected…
        </button>
        <button type="button" disabled={targets.length === 0 || running} onClick={() => setAsking('resume')}>
          Resume selected…
        </button>
        <button type="button" disabled={targets.length === 0 || running} onClick={onClear}>
          Clear selection
        </button>
      </div>
      {asking === undefined ? null : (
        <TypedConfirm
          action={`${asking === 'suspend' ? 'Suspend' : 'Resume'} ${targets.length} tenant${targets.length === 1 ? '' : 's'}`}
          expected={bulkPhrase(asking, targets.length)}
          busy={running}
          onConfirm={() => start(asking)}
          onCancel={() => setAsking(undefined)}
        />
      )}
      {run === undefined ? null : (
        <>
          <p role="status" data-testid="bulk-summary">
            {running
              ? `${run.results.length} of ${run.total} done…`
              : `${run.total - failed} of ${run.total} ${run.action === 'suspend' ? 'suspended' : 'resumed'}, ${failed} failed`}
          </p>
          <table data-testid="bulk-results">
            <caption>Results</caption>
            <thead>
              <tr>
                <th scope="col">Tenant</th>
                <th scope="col">Result</th>
              </tr>
            </thead>
            <tbody>
              {run.results.map((result) => (
                <tr key={result.id} className={result.outcome.kind === 'failed' ? 'error' : undefined}>
                  <th scope="row">{result.slug}</th>
                  <td>{outcomeText(run.action, result.outcome)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}
