import { callOf, get } from './api.ts';
import { useCursorPages } from './components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from './components/index.ts';
import { useSaveFile } from './save-file.ts';

const PAGE = 50;

/** The query key of a tenant's support bundles: an upload refreshes it. */
export function supportBundlesKey(tenantId: string): readonly string[] {
  return ['support-bundles', tenantId];
}

/** A size in bytes, as people read it. */
function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * A tenant's support bundles, the newest first, each downloaded as its archive (fetched with the
 * session's token, then saved: a link could not carry it). `shown` is the tenant as the API panel
 * names it (its slug in the operator console).
 */
export function SupportBundleList({ tenantId, shown }: { tenantId: string; shown: string }) {
  const query = { limit: PAGE };
  const pages = useCursorPages(supportBundlesKey(tenantId), (cursor) =>
    get('/v1/tenants/{id}/support-bundles', { path: { id: tenantId }, query: { ...query, cursor } }),
  );
  const save = useSaveFile();
  const saveBundle = (id: string) =>
    save.mutate({
      call: {
        ...callOf('/v1/tenants/{id}/support-bundles/{bundle_id}', { path: { id: tenantId, bundle_id: id } }),
        accept: 'application/gzip',
      },
      name: `${id}.tar.gz`,
    });
  const bundles = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      {pages.isPending ? <Loading what="the support bundles" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {bundles.length === 0 ? (
            <p data-testid="support-bundles-none">No support bundle was uploaded.</p>
          ) : (
            <table data-testid="support-bundles">
              <caption>Support bundles, the newest first</caption>
              <thead>
                <tr>
                  <th scope="col">Uploaded</th>
                  <th scope="col">Description</th>
                  <th scope="col">Size</th>
                  <th scope="col">SHA-256</th>
                  <th scope="col">Archive</th>
                </tr>
              </thead>
              <tbody>
                {bundles.map((bundle) => (
                  <tr key={bundle.id} data-testid={`support-bundle-${bundle.id}`}>
                    <th scope="row">
                      <time dateTime={bundle.created_at}>{bundle.created_at}</time>
                    </th>
                    <td>{bundle.description ?? '—'}</td>
                    <td>{size(bundle.size_bytes)}</td>
                    <td>
                      <code title={bundle.sha256}>{bundle.sha256.slice(0, 12)}…</code>
                    </td>
                    <td>
                      <button
                        type="button"
                        onClick={() => saveBundle(bundle.id)}
                        disabled={save.isPending}
                        aria-label={`Download support bundle ${bundle.id}`}
                      >
                        Download
                      </button>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {save.isError ? <ErrorNotice error={save.error} /> : null}
          <LoadMore pages={pages} what="support bundles" />
          <ApiPanel
            label="API: support bundles"
            call={callOf('/v1/tenants/{id}/support-bundles', { path: { id: shown }, query })}
            data={pages.data.pages}
          />
        </>
      )}
    </>
  );
}
