import { useMutation } from '@tanstack/react-query';
import { operationUrl } from '@tenantry/core/api';
import { type FormEvent, useId, useState } from 'react';
import { type Call, download } from '../shared/api.ts';
import { TenantTimeline } from '../shared/audit-timeline.tsx';
import { ApiPanel, ErrorNotice } from '../shared/components/index.ts';
import { saveFile } from '../shared/save-file.ts';
import type { TenantRef } from '../shared/tenants.ts';
import { can, Needs } from './access.tsx';

/**
 * The organisation's audit log (`audit:read`): the operator's timeline of it, and its export as
 * JSON Lines (`…/audit/export`), the file `tenantry audit verify --file` checks. Reading and
 * exporting are each audited in the tenant's own chain.
 */
export function AuditPage() {
  return (
    <Needs permission="audit:read" title="Audit log">
      {(tenant) => (
        <>
          <h1>Audit log</h1>
          <Export tenant={tenant} />
          <TenantTimeline tenant={tenant} webhooks={can('webhooks:write')} />
        </>
      )}
    </Needs>
  );
}

/** A date input's day as the instant it begins, UTC; an empty input, none. */
function dayStart(day: string): string | undefined {
  return day === '' ? undefined : `${day}T00:00:00Z`;
}

function Export({ tenant }: { tenant: TenantRef }) {
  const [since, setSince] = useState('');
  const [until, setUntil] = useState('');
  const sinceId = useId();
  const untilId = useId();
  const query = { since: dayStart(since), until: dayStart(until) };
  const call = (id: string): Call => ({
    method: 'GET',
    url: operationUrl('/v1/tenants/{id}/audit/export', { path: { id }, query }),
    accept: 'application/x-ndjson',
  });
  const exported = useMutation({
    mutationFn: async () => {
      const file = await download(call(tenant.id));
      saveFile(file, `audit-${tenant.id}.jsonl`);
      return file.text();
    },
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    exported.mutate();
  };
  const lines =
    exported.data === undefined ? 0 : exported.data.split('\n').filter((line) => line !== '').length;
  return (
    <form onSubmit={submit} aria-labelledby="export-heading" className="form">
      <h2 id="export-heading">Export</h2>
      <p>Every entry of the period as JSON Lines, one entry a line, in the chain's order.</p>
      <label htmlFor={sinceId}>From (UTC day, optional)</label>
      <input id={sinceId} type="date" value={since} onChange={(event) => setSince(event.target.value)} />
      <label htmlFor={untilId}>Before (UTC day, optional)</label>
      <input id={untilId} type="date" value={until} onChange={(event) => setUntil(event.target.value)} />
      <button type="submit" disabled={exported.isPending}>
        Export JSON Lines
      </button>
      <span role="status" data-testid="export-status">
        {exported.isSuccess ? `Exported ${lines} entries` : ''}
      </span>
      {exported.isError ? <ErrorNotice error={exported.error} /> : null}
      <ApiPanel label="API: export" call={call(tenant.shown)} data={null} />
    </form>
  );
}
