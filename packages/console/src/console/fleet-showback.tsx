import { getRouteApi, Link } from '@tanstack/react-router';
import type { FormEvent } from 'react';
import { callOf, get } from '../shared/api.ts';
import { CategoryTotals } from '../shared/billing/category-totals.tsx';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import { ApiPanel, ErrorNotice, Loading, LoadMore } from '../shared/components/index.ts';
import { useSaveFile } from '../shared/save-file.ts';
import { parseShowbackSearch } from './admin-search.ts';

const route = getRouteApi('/showback');
const PAGE = 50;

/**
 * The fleet's showback (`GET /v1/showback`): for the billing periods that start in a month (the
 * previous one unless another is picked), what the finalized invoices add up to by category, and
 * the tenants by cost, each linking to its billing view; the whole list as the API's CSV.
 */
export function FleetShowbackPage() {
  const search = route.useSearch();
  const navigate = route.useNavigate();
  const query = { ...search, limit: PAGE };
  const pages = useCursorPages(['fleet-showback', search], (cursor) =>
    get('/v1/showback', { query: { ...query, cursor } }),
  );
  const first = pages.data?.pages[0];
  const rows = pages.data?.pages.flatMap((page) => page.tenants) ?? [];
  const save = useSaveFile();
  const csv = () => {
    if (first === undefined) return;
    const month = first.period.month;
    const query = parseShowbackSearch({ period: month, currency: first.currency });
    save.mutate({
      call: { ...callOf('/v1/showback', { query }), accept: 'text/csv' },
      name: `showback-fleet-${month}.csv`,
    });
  };
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    navigate({
      search: parseShowbackSearch({ period: form.get('period'), currency: form.get('currency') }),
    }).catch((error: unknown) => console.error('could not show the month', error));
  };
  const money = (amount: string) => `${amount} ${first?.currency?.toUpperCase() ?? ''}`;
  return (
    <>
      <h1>Showback</h1>
      <form
        className="filters"
        aria-label="Choose the month"
        onSubmit={apply}
        key={`${first?.period.month}-${first?.currency}`}
      >
        {/* The form starts from the answer's month and currency, so it is made anew when an answer
            comes; until the first one has, it takes no typing that would be lost. */}
        <label>
          Periods starting in (UTC month)
          <input
            name="period"
            type="month"
            defaultValue={search.period ?? first?.period.month ?? ''}
            disabled={first === undefined}
          />
        </label>
        {first === undefined || first.currencies.length < 2 ? null : (
          <label>
            Currency
            <select name="currency" defaultValue={first.currency ?? ''}>
              {first.currencies.map((currency) => (
                <option key={currency} value={currency}>
                  {currency.toUpperCase()}
                </option>
              ))}
            </select>
          </label>
        )}
        <button type="submit" disabled={first === undefined}>
          Show
        </button>
        <button type="button" onClick={csv} disabled={first === undefined}>
          Download CSV
        </button>
      </form>
      {pages.isPending ? <Loading what="the showback" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {save.isError ? <ErrorNotice error={save.error} /> : null}
      {first === undefined ? null : (
        <>
          <p data-testid="fleet-showback-summary">
            {first.period.month}: {first.tenant_count} tenants, {first.document_count} documents, from
            finalized invoices only.
            {first.periods_open
              ? ' Some periods of this month may not have ended: they are counted once invoiced.'
              : ''}
          </p>
          <CategoryTotals
            testId="fleet-showback-categories"
            totals={first.totals}
            total={first.total}
            money={money}
            caption="The fleet's costs by category"
          />
          {rows.length === 0 ? (
            <p role="status">No finalized invoice for the periods of this month.</p>
          ) : (
            <table data-testid="fleet-showback-tenants">
              <caption>Tenants by cost</caption>
              <thead>
                <tr>
                  <th scope="col">Tenant</th>
                  <th scope="col">Amount</th>
                  <th scope="col">Share</th>
                  <th scope="col">Invoice</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((row) => (
                  <tr key={row.tenant.id}>
                    <th scope="row">
                      <Link to="/tenants/$id" params={{ id: row.tenant.slug }} search={{ view: 'billing' }}>
                        {row.tenant.name}
                      </Link>
                    </th>
                    <td className="num">{money(row.amount)}</td>
                    <td className="num">{row.share} %</td>
                    <td>
                      {row.invoice === null ? (
                        '—'
                      ) : (
                        <Link to="/invoices/$id" params={{ id: row.invoice.id }}>
                          {row.invoice.number}
                        </Link>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="tenants" />
        </>
      )}
      <ApiPanel label="Showback API" call={callOf('/v1/showback', { query })} data={first ?? null} />
    </>
  );
}
