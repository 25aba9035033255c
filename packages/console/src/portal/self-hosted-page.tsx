import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { ImportTenantUsageReport } from '@tenantry/core/api/requests';
import { type ChangeEvent, type FormEvent, useId, useState } from 'react';
import { callOf, get, post, postFile } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../shared/components/index.ts';
import { saveFile } from '../shared/save-file.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import { SupportBundleList, supportBundlesKey } from '../shared/support-bundles.tsx';
import type { TenantRef } from '../shared/tenants.ts';
import { can, Needs } from './access.tsx';

const PAGE = 100;

/**
 * A self-hosted organisation's installs (`licenses:read`): its licenses, each downloaded as the
 * file an install runs with; its installs as they last checked in; the offline usage reports
 * imported, and (with `usage_reports:write`) uploading one an install wrote; the support bundles
 * sent to the vendor (`support_bundles:read`), and (with `support_bundles:write`) sending one.
 */
export function SelfHostedPage() {
  return (
    <Needs permission="licenses:read" title="Self-hosted">
      {(tenant) => (
        <>
          <h1>Self-hosted</h1>
          <Licenses tenant={tenant} />
          <Installs tenant={tenant} />
          {can('usage_reports:write') ? <Upload tenant={tenant} /> : null}
          <Reports tenant={tenant} />
          {can('support_bundles:read') || can('support_bundles:write') ? (
            <section aria-labelledby="support-bundles-heading">
              <h2 id="support-bundles-heading">Support bundles</h2>
              {can('support_bundles:write') ? <SupportBundleUpload tenant={tenant} /> : null}
              {can('support_bundles:read') ? (
                <SupportBundleList tenantId={tenant.id} shown={tenant.shown} />
              ) : null}
            </section>
          ) : null}
        </>
      )}
    </Needs>
  );
}

function Licenses({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const licenses = useQuery({
    queryKey: ['licenses', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/licenses', { path: { id: tenant.id }, query }),
  });
  const download = useMutation({
    mutationFn: (id: string) =>
      get('/v1/tenants/{id}/licenses/{license_id}', { path: { id: tenant.id, license_id: id } }),
    onSuccess: (license) =>
      saveFile(new Blob([license.token], { type: 'application/jwt' }), `license-${license.seq}.jwt`),
  });
  return (
    <section aria-labelledby="licenses-heading">
      <h2 id="licenses-heading">Licenses</h2>
      {licenses.isPending ? <Loading what="the licenses" /> : null}
      {licenses.isError ? <ErrorNotice error={licenses.error} /> : null}
      {licenses.data === undefined ? null : licenses.data.data.length === 0 ? (
        <p>No license has been issued to your organisation: it runs hosted.</p>
      ) : (
        <table data-testid="licenses">
          <thead>
            <tr>
              <th scope="col">Seq</th>
              <th scope="col">Status</th>
              <th scope="col">Edition</th>
              <th scope="col">Seats</th>
              <th scope="col">Issued</th>
              <th scope="col">Expires</th>
              <th scope="col">File</th>
            </tr>
          </thead>
          <tbody>
            {licenses.data.data.map((license) => (
              <tr key={license.id} data-testid={`license-${license.seq}`}>
                <th scope="row">{license.seq}</th>
                <td>{license.status}</td>
                <td>{license.edition}</td>
                <td>{license.seats ?? 'unlimited'}</td>
                <td>{license.issued_at}</td>
                <td>{license.expires_at}</td>
                <td>
                  <button
                    type="button"
                    onClick={() => download.mutate(license.id)}
                    disabled={download.isPending}
                    aria-label={`Download license ${license.seq}`}
                  >
                    Download
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {download.isError ? <ErrorNotice error={download.error} /> : null}
      <ApiPanel
        label="API: licenses"
        call={callOf('/v1/tenants/{id}/licenses', { path: { id: tenant.shown }, query })}
        data={licenses.data ?? null}
      />
    </section>
  );
}

function Installs({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const installs = useQuery({
    queryKey: ['license-installs', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/license-installs', { path: { id: tenant.id }, query }),
  });
  return (
    <section aria-labelledby="installs-heading">
      <h2 id="installs-heading">Installs</h2>
      {installs.isPending ? <Loading what="the installs" /> : null}
      {installs.isError ? <ErrorNotice error={installs.error} /> : null}
      {installs.data === undefined ? null : installs.data.data.length === 0 ? (
        <p>No install has checked in yet.</p>
      ) : (
        <table data-testid="installs">
          <thead>
            <tr>
              <th scope="col">Install</th>
              <th scope="col">Last check-in</th>
              <th scope="col">Version</th>
              <th scope="col">Seats in use</th>
              <th scope="col">License</th>
            </tr>
          </thead>
          <tbody>
            {installs.data.data.map((install) => (
              <tr key={install.install_id} data-testid={`install-${install.install_id}`}>
                <th scope="row">{install.install_id}</th>
                <td>{install.last_check_in_at}</td>
                <td>{install.version}</td>
                <td>{install.seats_in_use ?? '—'}</td>
                <td>
                  {install.license_id} ({install.license_status}
                  {install.license_current ? '' : ': due its newer license'})
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ApiPanel
        label="API: installs"
        call={callOf('/v1/tenants/{id}/license-installs', { path: { id: tenant.shown }, query })}
        data={installs.data ?? null}
      />
    </section>
  );
}

function Upload({ tenant }: { tenant: TenantRef }) {
  const client = useQueryClient();
  const [report, setReport] = useState('');
  const fileId = useId();
  const form = useSchemaForm(ImportTenantUsageReport);
  const body = { report: report.trim() };
  const upload = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/usage-reports', { path: { id: tenant.id }, body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ['usage-reports', tenant.id] }),
    onError: form.refused,
  });
  const read = (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file === undefined) return;
    file.text().then(setReport, (error: unknown) => console.error('could not read the report file', error));
  };
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) upload.mutate();
  };
  return (
    <form ref={form.ref} onSubmit={submit} aria-labelledby="upload-heading" className="form" noValidate>
      <h2 id="upload-heading">Upload a usage report</h2>
      <p>
        The file an install wrote with <code>tenantry usage export</code>, for an install that does not reach
        the vendor itself. Reports of one install are uploaded in order.
      </p>
      <label htmlFor={fileId}>Report file</label>
      <input id={fileId} type="file" onChange={read} {...form.field('report')} />
      <FieldError form={form} name="report" />
      <OtherErrors form={form} />
      <button type="submit" disabled={upload.isPending}>
        Upload report
      </button>
      <span role="status" data-testid="upload-status">
        {upload.data === undefined
          ? ''
          : upload.data.already_imported
            ? `Report ${upload.data.report.seq} of ${upload.data.report.install_id} was imported before: nothing changed`
            : `Imported report ${upload.data.report.seq} of ${upload.data.report.install_id}: ${upload.data.accepted} events, ${upload.data.duplicates} already known`}
      </span>
      {upload.isError ? <ErrorNotice error={upload.error} /> : null}
    </form>
  );
}

function Reports({ tenant }: { tenant: TenantRef }) {
  const query = { limit: PAGE };
  const reports = useQuery({
    queryKey: ['usage-reports', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/usage-reports', { path: { id: tenant.id }, query }),
  });
  return (
    <section aria-labelledby="reports-heading">
      <h2 id="reports-heading">Imported usage reports</h2>
      {reports.isPending ? <Loading what="the usage reports" /> : null}
      {reports.isError ? <ErrorNotice error={reports.error} /> : null}
      {reports.data === undefined ? null : reports.data.data.length === 0 ? (
        <p>No usage report imported.</p>
      ) : (
        <table data-testid="usage-reports">
          <thead>
            <tr>
              <th scope="col">Install</th>
              <th scope="col">Seq</th>
              <th scope="col">Period</th>
              <th scope="col">Events</th>
              <th scope="col">Imported</th>
            </tr>
          </thead>
          <tbody>
            {reports.data.data.map((report) => (
              <tr key={report.report_id}>
                <th scope="row">{report.install_id}</th>
                <td>{report.seq}</td>
                <td>
                  {report.period.from} to {report.period.to}
                </td>
                <td>{report.event_count}</td>
                <td>{report.imported_at}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ApiPanel
        label="API: usage reports"
        call={callOf('/v1/tenants/{id}/usage-reports', { path: { id: tenant.shown }, query })}
        data={reports.data ?? null}
      />
    </section>
  );
}

/**
 * Sends the vendor a support bundle: the .tar.gz `tenantry support-bundle` wrote (redacted, to be
 * read before it is sent), with a few words about it; the upload's progress, then its digest.
 */
function SupportBundleUpload({ tenant }: { tenant: TenantRef }) {
  const client = useQueryClient();
  const [file, setFile] = useState<File | null>(null);
  const [description, setDescription] = useState('');
  const [sent, setSent] = useState(0);
  const fileId = useId();
  const descriptionId = useId();
  const upload = useMutation({
    mutationFn: (archive: File) =>
      postFile('/v1/tenants/{id}/support-bundles', archive, 'application/gzip', setSent, {
        path: { id: tenant.id },
        query: { description: description.trim() === '' ? undefined : description.trim() },
      }),
    onMutate: () => setSent(0),
    onSuccess: () => client.invalidateQueries({ queryKey: supportBundlesKey(tenant.id) }),
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (file !== null) upload.mutate(file);
  };
  return (
    <form onSubmit={submit} aria-labelledby="bundle-upload-heading" className="form">
      <h3 id="bundle-upload-heading">Send a support bundle</h3>
      <p>
        The archive <code>tenantry support-bundle</code> wrote on the install, secrets redacted: read it
        before you send it. Or send it from the install with{' '}
        <code>tenantry support-bundle --upload {tenant.shown}</code>.
      </p>
      <label htmlFor={fileId}>Bundle file (.tar.gz)</label>
      <input
        id={fileId}
        type="file"
        accept=".tar.gz,.tgz,application/gzip"
        onChange={(event: ChangeEvent<HTMLInputElement>) => setFile(event.target.files?.[0] ?? null)}
      />
      <label htmlFor={descriptionId}>What it is about (optional)</label>
      <input
        id={descriptionId}
        type="text"
        maxLength={500}
        value={description}
        onChange={(event) => setDescription(event.target.value)}
      />
      <button type="submit" disabled={upload.isPending || file === null}>
        Send bundle
      </button>
      {upload.isPending ? (
        <progress max={1} value={sent} aria-label="Upload progress">
          {Math.round(sent * 100)}%
        </progress>
      ) : null}
      <span role="status" data-testid="bundle-upload-status">
        {upload.data === undefined
          ? ''
          : `Sent ${upload.data.id} (${upload.data.size_bytes} bytes, SHA-256 ${upload.data.sha256})`}
      </span>
      {upload.isError ? <ErrorNotice error={upload.error} /> : null}
    </form>
  );
}
