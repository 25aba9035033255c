import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ResponseBody } from '@tenantry/core/api';
import { IssueLicense } from '@tenantry/core/api/requests';
import { type FormEvent, useId, useState } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore, TypedConfirm } from '../shared/components/index.ts';
import { FieldError, OtherErrors, useSchemaForm } from '../shared/schema-form.tsx';
import { SupportBundleList } from '../shared/support-bundles.tsx';
import type { Tenant } from '../shared/tenants.ts';

type License = ResponseBody<'/v1/tenants/{id}/licenses', 'get'>['data'][number];
const PAGE = 100;

/**
 * The tenant's self-hosted licenses (highest `seq` first) and the installs that checked in with
 * them; issue a license (it supersedes the active one) or revoke one behind its id typed out; and
 * the support bundles the tenant uploaded from its installs, to download.
 */
export function TenantLicenses({ tenant }: { tenant: Tenant }) {
  return (
    <>
      <Licenses tenant={tenant} />
      <Installs tenant={tenant} />
      <section aria-labelledby="support-bundles-heading">
        <h2 id="support-bundles-heading">Support bundles</h2>
        <SupportBundleList tenantId={tenant.id} shown={tenant.slug} />
      </section>
    </>
  );
}

function Licenses({ tenant }: { tenant: Tenant }) {
  const client = useQueryClient();
  const query = { limit: PAGE };
  const pages = useCursorPages(['licenses', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/licenses', { path: { id: tenant.id }, query: { ...query, cursor } }),
  );
  const licenses = pages.data?.pages.flatMap((page) => page.data) ?? [];
  // An install shows its license's status: a license issued or revoked changes both lists.
  const refresh = () => {
    for (const queryKey of [
      ['licenses', tenant.id],
      ['license-installs', tenant.id],
    ]) {
      client.invalidateQueries({ queryKey }).catch((error: unknown) => console.warn(error));
    }
  };
  return (
    <section aria-labelledby="licenses-heading">
      <h2 id="licenses-heading">Licenses</h2>
      <Issue tenant={tenant} onIssued={refresh} />
      {pages.isPending ? <Loading what="the licenses" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {licenses.length === 0 ? (
            <p data-testid="licenses-none">No license was issued to this tenant.</p>
          ) : (
            <table data-testid="licenses">
              <caption>The tenant's licenses, the newest first</caption>
              <thead>
                <tr>
                  <th scope="col">License</th>
                  <th scope="col">Seq</th>
                  <th scope="col">Status</th>
                  <th scope="col">Plan</th>
                  <th scope="col">Edition</th>
                  <th scope="col">Seats</th>
                  <th scope="col">Install</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Action</th>
                </tr>
              </thead>
              <tbody>
                {licenses.map((license) => (
                  <tr key={license.id} data-testid={`license-${license.id}`}>
                    <th scope="row">
                      <code>{license.id}</code>
                    </th>
                    <td>{license.seq}</td>
                    <td data-testid="license-status">
                      {license.status}
                      {license.revoke_reason === null ? '' : ` (${license.revoke_reason})`}
                    </td>
                    <td>
                      {license.plan.key} v{license.plan.version}
                    </td>
                    <td>{license.edition}</td>
                    <td>{license.seats ?? 'unlimited'}</td>
                    <td>{license.install ?? 'any'}</td>
                    <td>
                      <time dateTime={license.expires_at}>{license.expires_at}</time> (+{license.grace_days}{' '}
                      days' grace)
                    </td>
                    <td>
                      {license.status === 'revoked' ? null : <Revoke license={license} onRevoked={refresh} />}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="licenses" />
          <ApiPanel
            label="API: licenses"
            call={callOf('/v1/tenants/{id}/licenses', { path: { id: tenant.slug }, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}

/** The issue form: days until it expires, and optionally the edition, the install it is bound to and the grace days. */
function Issue({ tenant, onIssued }: { tenant: Tenant; onIssued: () => void }) {
  const ids = { days: useId(), edition: useId(), install: useId(), grace: useId() };
  const tokenId = useId();
  const [days, setDays] = useState('365');
  const [edition, setEdition] = useState('');
  const [install, setInstall] = useState('');
  const [grace, setGrace] = useState('');
  const form = useSchemaForm(IssueLicense);
  const body = {
    days: Number(days),
    ...(edition.trim() === '' ? {} : { edition: edition.trim() }),
    ...(install.trim() === '' ? {} : { install: install.trim() }),
    ...(grace.trim() === '' ? {} : { grace_days: Number(grace) }),
  };
  const issue = useMutation({
    mutationFn: () => post('/v1/tenants/{id}/licenses', { path: { id: tenant.id }, body }),
    onSuccess: onIssued,
    onError: form.refused,
  });
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (form.check(body)) issue.mutate();
  };
  return (
    <>
      <form ref={form.ref} className="filters" aria-label="Issue a license" onSubmit={submit} noValidate>
        <label htmlFor={ids.days}>Days valid</label>
        <input
          id={ids.days}
          name="days"
          type="number"
          required
          value={days}
          onChange={(event) => setDays(event.target.value)}
          {...form.field('days')}
        />
        <FieldError form={form} name="days" />
        <label htmlFor={ids.edition}>Edition</label>
        <input
          id={ids.edition}
          name="edition"
          placeholder={tenant.plan.key}
          value={edition}
          onChange={(event) => setEdition(event.target.value)}
          {...form.field('edition')}
        />
        <FieldError form={form} name="edition" />
        <label htmlFor={ids.install}>Install</label>
        <input
          id={ids.install}
          name="install"
          placeholder="any"
          value={install}
          onChange={(event) => setInstall(event.target.value)}
          {...form.field('install')}
        />
        <FieldError form={form} name="install" />
        <label htmlFor={ids.grace}>Grace days</label>
        <input
          id={ids.grace}
          name="grace_days"
          type="number"
          placeholder="14"
          value={grace}
          onChange={(event) => setGrace(event.target.value)}
          {...form.field('grace_days')}
        />
        <FieldError form={form} name="grace_days" />
        <OtherErrors form={form} />
        <button type="submit" disabled={issue.isPending}>
          Issue license
        </button>
      </form>
      <p>Issuing supersedes the tenant's active license; the new one carries its entitlements now.</p>
      {issue.isError ? <ErrorNotice error={issue.error} /> : null}
      {issue.data === undefined ? null : (
        <div role="status" data-testid="license-issued">
          <p>
            Issued <code>{issue.data.id}</code> (seq {issue.data.seq}), expiring {issue.data.expires_at}.
          </p>
          {/* A text field, not a <pre>: the long token scrolls, and a field takes the keyboard's focus. */}
          <p>
            <label htmlFor={tokenId}>The license file's content, to hand to the customer</label>
          </p>
          <textarea
            id={tokenId}
            data-testid="license-token"
            readOnly
            rows={4}
            cols={80}
            value={issue.data.token}
          />
        </div>
      )}
    </>
  );
}

/** Revoke, behind the license's id typed out, with the reason the install will be told. */
function Revoke({ license, onRevoked }: { license: License; onRevoked: () => void }) {
  const reasonId = useId();
  const [asking, setAsking] = useState(false);
  const [reason, setReason] = useState('');
  const revoke = useMutation({
    mutationFn: () =>
      post('/v1/licenses/{id}/revoke', {
        path: { id: license.id },
        body: reason.trim() === '' ? {} : { reason: reason.trim() },
      }),
    onSuccess: () => {
      setAsking(false);
      onRevoked();
    },
  });
  if (!asking) {
    return (
      <button type="button" onClick={() => setAsking(true)} aria-label={`Revoke… ${license.id}`}>
        Revoke…
      </button>
    );
  }
  return (
    <>
      <label htmlFor={reasonId}>Reason</label>{' '}
      <input id={reasonId} name="reason" value={reason} onChange={(event) => setReason(event.target.value)} />
      <TypedConfirm
        action={`Revoke ${license.id}`}
        expected={license.id}
        busy={revoke.isPending}
        onConfirm={() => revoke.mutate()}
        onCancel={() => setAsking(false)}
      />
      {revoke.isError ? <ErrorNotice error={revoke.error} /> : null}
    </>
  );
}

function Installs({ tenant }: { tenant: Tenant }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(['license-installs', tenant.id], (cursor) =>
    get('/v1/tenants/{id}/license-installs', {
      path: { id: tenant.id },
      query: { ...query, cursor },
    }),
  );
  const installs = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <section aria-labelledby="installs-heading">
      <h2 id="installs-heading">Installs</h2>
      <button
        type="button"
        onClick={() => {
          pages.refetch().catch((error: unknown) => console.error('could not refresh', error));
        }}
        disabled={pages.isFetching}
      >
        Refresh
      </button>
      {pages.isPending ? <Loading what="the installs" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {installs.length === 0 ? (
            <p data-testid="installs-none">No install has checked in.</p>
          ) : (
            <table data-testid="installs">
              <caption>Installs that checked in, with their license</caption>
              <thead>
                <tr>
                  <th scope="col">Install</th>
                  <th scope="col">Version</th>
                  <th scope="col">Last check-in</th>
                  <th scope="col">Check-ins</th>
                  <th scope="col">Seats in use</th>
                  <th scope="col">License</th>
                </tr>
              </thead>
              <tbody>
                {installs.map((install) => (
                  <tr key={install.install_id} data-testid={`install-${install.install_id}`}>
                    <th scope="row">{install.install_id}</th>
                    <td>{install.version}</td>
                    <td>
                      <time dateTime={install.last_check_in_at}>{install.last_check_in_at}</time>
                    </td>
                    <td>{install.check_ins}</td>
                    <td>{install.seats_in_use ?? 'not reported'}</td>
                    <td>
                      <code>{install.license_id}</code> {install.license_status}
                      {install.license_current ? '' : ' (not the current one)'}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="installs" />
          <ApiPanel
            label="API: installs"
            call={callOf('/v1/tenants/{id}/license-installs', { path: { id: tenant.slug }, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </section>
  );
}
