import { useQuery } from '@tanstack/react-query';
import { ApiError, callOf, get } from '../shared/api.ts';
import { ApiPanel, ErrorNotice, Loading, StateBadge } from '../shared/components/index.ts';
import { ScrollPre } from './scroll-pre.tsx';

/**
 * The license signing keys (public halves: what installs put in their keyrings) and the signed
 * revocation list an air-gapped install reads, as the API gives them.
 */
export function LicensesPage() {
  const keys = useQuery({ queryKey: ['license-keys'], queryFn: () => get('/v1/license-keys') });
  const revocations = useQuery({
    queryKey: ['license-revocations'],
    queryFn: () => get('/v1/license-revocations'),
  });
  // Before any signing key exists there is nothing to sign the list with: the API says so (409).
  const noKey = revocations.error instanceof ApiError && revocations.error.code === 'license_key_missing';
  return (
    <>
      <h1>Licenses</h1>
      <section aria-labelledby="license-keys-heading">
        <h2 id="license-keys-heading">Signing keys</h2>
        {keys.isPending ? <Loading what="the signing keys" /> : null}
        {keys.isError ? <ErrorNotice error={keys.error} /> : null}
        {keys.data === undefined ? null : (
          <>
            {keys.data.data.length === 0 ? (
              <p>
                No license signing key yet (<code>tenantry license keygen</code> makes one).
              </p>
            ) : (
              <table data-testid="license-keys">
                <caption className="visually-hidden">License signing keys</caption>
                <thead>
                  <tr>
                    <th scope="col">Key id</th>
                    <th scope="col">Status</th>
                    <th scope="col">Created</th>
                    <th scope="col">Retired</th>
                    <th scope="col">Public key (x)</th>
                  </tr>
                </thead>
                <tbody>
                  {keys.data.data.map((key) => (
                    <tr key={key.kid}>
                      <td>
                        <code>{key.kid}</code>
                      </td>
                      <td>
                        <StateBadge state={key.status} />
                      </td>
                      <td>{key.created_at}</td>
                      <td>{key.retired_at ?? ''}</td>
                      <td>
                        <code>{key.public_jwk.x}</code>
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            <ApiPanel label="Signing keys API" call={callOf('/v1/license-keys')} data={keys.data} />
          </>
        )}
      </section>
      <section aria-labelledby="revocations-heading">
        <h2 id="revocations-heading">Revocation list</h2>
        {revocations.isPending ? <Loading what="the revocation list" /> : null}
        {noKey ? (
          <p>No revocation list: there is no signing key to sign it with yet.</p>
        ) : revocations.isError ? (
          <ErrorNotice error={revocations.error} />
        ) : null}
        {revocations.data === undefined ? null : (
          <>
            <dl className="facts">
              <dt>Sequence</dt>
              <dd>{revocations.data.seq}</dd>
              <dt>Licenses revoked</dt>
              <dd data-testid="revoked-count">{revocations.data.revoked}</dd>
            </dl>
            <details>
              <summary>The signed list (carry it to an air-gapped install)</summary>
              <ScrollPre>{revocations.data.list}</ScrollPre>
            </details>
            <ApiPanel
              label="Revocation list API"
              call={callOf('/v1/license-revocations')}
              data={revocations.data}
            />
          </>
        )}
      </section>
    </>
  );
}
