import { useQuery } from '@tanstack/react-query';
import { getRouteApi } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import type { FormEvent } from 'react';
import { type Call, callOf, get } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from '../shared/components/index.ts';
import { useSaveFile } from '../shared/save-file.ts';
import { auditQuery, parseAuditSearch } from './admin-search.ts';
import { ScrollPre } from './scroll-pre.tsx';

type AuditEntry = Schemas['AuditEntry'];

const route = getRouteApi('/audit');
const PAGE = 50;

/**
 * The operator-wide audit log: every chain, newest first, filtered on the server, 50 entries a
 * page by the API's cursor; the filtered log exported as JSON Lines; the chains' signed
 * checkpoints. Reading the log is itself audited, in the operator chain.
 */
export function AuditLog() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const filters = auditQuery(search);
  const query = { ...filters, limit: PAGE };
  const pages = useCursorPages(['fleet-audit', search], (cursor) =>
    get('/v1/audit', { query: { ...query, cursor } }),
  );
  const entries = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    navigate({ search: parseAuditSearch(Object.fromEntries(form)) }).catch((error: unknown) =>
      console.error('could not apply the filters', error),
    );
  };
  return (
    <>
      <h1>Audit log</h1>
      <form
        className="filters"
        aria-label="Filter the audit log"
        onSubmit={apply}
        key={JSON.stringify(search)}
      >
        <label>
          Chain
          <input name="chain" defaultValue={search.chain ?? ''} placeholder="tenant id or operator" />
        </label>
        <label>
          Action
          <input name="action" defaultValue={search.action ?? ''} placeholder="tenant.suspended" />
        </label>
        <label>
          Actor type
          <select name="actor_type" defaultValue={search.actor_type ?? ''}>
            <option value="">any</option>
            <option value="user">user</option>
            <option value="api_key">api_key</option>
            <option value="system">system</option>
          </select>
        </label>
        <label>
          Actor id
          <input name="actor_id" defaultValue={search.actor_id ?? ''} />
        </label>
        <label>
          Target type
          <input name="target_type" defaultValue={search.target_type ?? ''} placeholder="tenant" />
        </label>
        <label>
          Target id
          <input name="target_id" defaultValue={search.target_id ?? ''} />
        </label>
        <label>
          From (UTC day)
          <input name="since" type="date" defaultValue={search.since ?? ''} />
        </label>
        <label>
          To (UTC day, included)
          <input name="until" type="date" defaultValue={search.until ?? ''} />
        </label>
        <button type="submit">Apply</button>
      </form>
      <Export filters={filters} />
      {pages.isPending ? <Loading what="the audit log" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {entries.length === 0 ? (
            <p role="status">No entry matches.</p>
          ) : (
            <ol className="timeline" data-testid="audit-log">
              {entries.map((entry) => (
                <Entry key={entry.id} entry={entry} />
              ))}
            </ol>
          )}
          <LoadMore pages={pages} what="audit entries" label="Older" />
          <ApiPanel call={callOf('/v1/audit', { query })} data={pages.data.pages} />
        </>
      )}
      <Checkpoints />
    </>
  );
}

/** One entry: when, which chain, who, what and on what; opened, everything it recorded. */
function Entry({ entry }: { entry: AuditEntry }) {
  return (
    <li>
      <details>
        <summary>
          <time dateTime={entry.occurred_at}>{entry.occurred_at}</time>{' '}
          <span className="who">
            [{entry.chain} #{entry.seq}] {entry.actor.type} {entry.actor.id}
          </span>{' '}
          <strong data-testid="audit-action">{entry.action}</strong> {entry.target.type} {entry.target.id}
        </summary>
        <ScrollPre>{JSON.stringify(entry, null, 2)}</ScrollPre>
      </details>
    </li>
  );
}

/** The log the filters select, as JSON Lines (`GET /v1/audit/export`), saved as a file. */
function Export({ filters }: { filters: ReturnType<typeof auditQuery> }) {
  const call: Call = { ...callOf('/v1/audit/export', { query: filters }), accept: 'application/x-ndjson' };
  const save = useSaveFile();
  const day = (value: string | undefined) => (value === undefined ? '' : value.slice(0, 10));
  const range =
    filters.since === undefined && filters.until === undefined
      ? ''
      : `-${day(filters.since)}_${day(filters.until)}`;
  return (
    <section aria-label="Export">
      <button
        type="button"
        onClick={() => save.mutate({ call, name: `audit${range}.jsonl` })}
        disabled={save.isPending}
      >
        {save.isPending ? 'Exporting…' : 'Export as JSON Lines'}
      </button>{' '}
      <span className="who">
        the entries the filters select (actor, target, chain, action and days), chain by chain
      </span>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
    </section>
  );
}

/**
 * Each chain's latest signed checkpoint. The API signs them but does not verify the chains: a
 * verifier does, outside the control plane (`tenantry audit verify`), as docs/audit.md says.
 */
function Checkpoints() {
  const query = { latest: 'true' as const, limit: 100 };
  const checkpoints = useQuery({
    queryKey: ['audit-checkpoints'],
    queryFn: () => get('/v1/audit/checkpoints', { query }),
  });
  return (
    <section aria-labelledby="checkpoints-heading">
      <h2 id="checkpoints-heading">Checkpoints</h2>
      <p>
        Each chain's latest signed checkpoint. Verify the chains against them with{' '}
        <code>tenantry audit verify</code>: the API signs checkpoints, it does not judge its own log.
      </p>
      {checkpoints.isPending ? <Loading what="the checkpoints" /> : null}
      {checkpoints.isError ? <ErrorNotice error={checkpoints.error} /> : null}
      {checkpoints.data === undefined ? null : (
        <>
          {checkpoints.data.data.length === 0 ? (
            <p>No checkpoint yet.</p>
          ) : (
            <table data-testid="checkpoints">
              <caption className="visually-hidden">Checkpoints</caption>
              <thead>
                <tr>
                  <th scope="col">Chain</th>
                  <th scope="col">Entry</th>
                  <th scope="col">Signed</th>
                  <th scope="col">Key</th>
                </tr>
              </thead>
              <tbody>
                {checkpoints.data.data.map((c) => (
                  <tr key={c.id}>
                    <td>{c.chain}</td>
                    <td>#{c.seq}</td>
                    <td>{c.signed_at}</td>
                    <td>{c.kid}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <ApiPanel
            label="Checkpoints API"
            call={callOf('/v1/audit/checkpoints', { query })}
            data={checkpoints.data}
          />
        </>
      )}
    </section>
  );
}
