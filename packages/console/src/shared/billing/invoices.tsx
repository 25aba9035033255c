import { useQuery } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { useState } from 'react';
import { callOf, get } from '../api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../components/index.ts';
import { useSaveFile } from '../save-file.ts';

type Invoice = Schemas['Invoice'];

const LIMIT = 50;

/**
 * A tenant's invoices and credit notes (`GET /v1/tenants/{id}/invoices`), the latest 50: each opens
 * to its lines, and downloads as the printable HTML page or the PDF the API serves for it.
 */
export function Invoices({ tenant }: { tenant: { id: string; slug: string } }) {
  const query = { limit: LIMIT };
  const list = useQuery({
    queryKey: ['invoices', tenant.id],
    queryFn: () => get('/v1/tenants/{id}/invoices', { path: { id: tenant.id }, query }),
  });
  const [open, setOpen] = useState<string | undefined>();
  const saving = useSaveFile();
  const save = (invoice: Invoice, format: 'html' | 'pdf') => {
    const path = { id: tenant.id, invoice_id: invoice.id ?? '' };
    saving.mutate({
      call: {
        ...callOf('/v1/tenants/{id}/invoices/{invoice_id}', { path }),
        accept: format === 'html' ? 'text/html' : 'application/pdf',
      },
      name: `${invoice.number ?? invoice.id ?? 'invoice'}.${format}`,
    });
  };
  const invoices = list.data?.data ?? [];
  const shown = invoices.find((invoice) => invoice.id === open);
  return (
    <section aria-labelledby="invoices-heading">
      <h2 id="invoices-heading">Invoices</h2>
      {list.isPending ? <Loading what="the invoices" /> : null}
      {list.isError ? <ErrorNotice error={list.error} /> : null}
      {saving.isError ? <ErrorNotice error={saving.error} /> : null}
      {list.data === undefined ? null : invoices.length === 0 ? (
        <p>No invoice yet: the first is issued at the end of the first billing period.</p>
      ) : (
        <table data-testid="invoices">
          <thead>
            <tr>
              <th scope="col">Number</th>
              <th scope="col">Period</th>
              <th scope="col">Status</th>
              <th scope="col">Total</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {invoices.map((invoice) => (
              <tr key={invoice.id}>
                <th scope="row">{invoice.number}</th>
                <td>
                  {invoice.period.start} to {invoice.period.end}
                </td>
                <td>{invoice.status}</td>
                <td className="num">
                  {invoice.total} {invoice.currency.toUpperCase()}
                </td>
                <td>
                  <button
                    type="button"
                    aria-expanded={open === invoice.id}
                    onClick={() => setOpen(open === invoice.id ? undefined : (invoice.id ?? undefined))}
                  >
                    {open === invoice.id ? `Close ${invoice.number}` : `Open ${invoice.number}`}
                  </button>{' '}
                  <button type="button" onClick={() => save(invoice, 'html')}>
                    {`HTML of ${invoice.number}`}
                  </button>{' '}
                  <button type="button" onClick={() => save(invoice, 'pdf')}>
                    {`PDF of ${invoice.number}`}
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {shown === undefined ? null : <InvoiceLines invoice={shown} />}
      <ApiPanel
        label="Invoices API"
        call={callOf('/v1/tenants/{id}/invoices', { path: { id: tenant.slug }, query })}
        data={list.data ?? null}
      />
    </section>
  );
}

/** An invoice's lines and totals. */
export function InvoiceLines({ invoice, caption }: { invoice: Invoice; caption?: string }) {
  const money = (amount: string) => `${amount} ${invoice.currency.toUpperCase()}`;
  return (
    <table data-testid="invoice-lines">
      <caption>{caption ?? `${invoice.number ?? 'Draft'}: ${invoice.status}`}</caption>
      <thead>
        <tr>
          <th scope="col">Line</th>
          <th scope="col">Period</th>
          <th scope="col">Quantity</th>
          <th scope="col">Amount</th>
        </tr>
      </thead>
      <tbody>
        {invoice.lines.map((line) => (
          <tr key={line.key}>
            <th scope="row">{line.description}</th>
            <td>
              {line.period.start} to {line.period.end}
            </td>
            <td className="num">{line.quantity}</td>
            <td className="num">{money(line.amount)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row" colSpan={3}>
            Total
          </th>
          <td className="num">{money(invoice.total)}</td>
        </tr>
        <tr>
          <th scope="row" colSpan={3}>
            Amount due
          </th>
          <td className="num">{money(invoice.amount_due)}</td>
        </tr>
      </tfoot>
    </table>
  );
}
