import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { getRouteApi, Link } from '@tanstack/react-router';
import type { Schemas } from '@tenantry/core/api';
import { type FormEvent, useState } from 'react';
import { callOf, get, post } from '../shared/api.ts';
import { useCursorPages } from '../shared/components/cursor-pages.ts';
import {
  ApiPanel,
  ErrorNotice,
  Loading,
  LoadMore,
  StateBadge,
  TypedConfirm,
} from '../shared/components/index.ts';
import { useSaveFile } from '../shared/save-file.ts';
import { OBJECTS, parseInvoiceSearch, STATUSES } from './admin-search.ts';

type Invoice = Schemas['Invoice'];
const listRoute = getRouteApi('/invoices');
const PAGE = 50;

/** The fleet's invoices and credit notes in the order they were issued, filtered on the server, 50 a page. */
export function InvoicesList() {
  const search = listRoute.useSearch();
  const navigate = listRoute.useNavigate();
  const query = { ...search, limit: PAGE };
  const pages = useCursorPages(['invoices', search], (cursor) =>
    get('/v1/invoices', { query: { ...query, cursor } }),
  );
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  const apply = (event: FormEvent<HTMLFormElement>) => {
    event.preventDefault();
    const form = new FormData(event.currentTarget);
    navigate({
      search: parseInvoiceSearch({
        status: form.get('status'),
        tenant: form.get('tenant'),
        object: form.get('object'),
        period: form.get('period'),
      }),
    }).catch((error: unknown) => console.error('could not apply the filters', error));
  };
  return (
    <>
      <h1>Invoices</h1>
      <form className="filters" aria-label="Filter invoices" onSubmit={apply} key={JSON.stringify(search)}>
        <label>
          Status
          <select name="status" defaultValue={search.status ?? ''}>
            <option value="">any</option>
            {STATUSES.map((status) => (
              <option key={status} value={status}>
                {status}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select name="object" defaultValue={search.object ?? ''}>
            <option value="">any</option>
            {OBJECTS.map((object) => (
              <option key={object} value={object}>
                {object.replace('_', ' ')}
              </option>
            ))}
          </select>
        </label>
        <label>
          Tenant
          <input name="tenant" defaultValue={search.tenant ?? ''} placeholder="id or slug" />
        </label>
        <label>
          Period starting in (UTC month)
          <input name="period" type="month" defaultValue={search.period ?? ''} />
        </label>
        <button type="submit">Apply</button>
      </form>
      {pages.isPending ? <Loading what="invoices" /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          {rows.length === 0 ? (
            <p role="status">No invoice matches.</p>
          ) : (
            <table data-testid="invoices">
              <caption className="visually-hidden">Invoices</caption>
              <thead>
                <tr>
                  <th scope="col">Number</th>
                  <th scope="col">Tenant</th>
                  <th scope="col">Status</th>
                  <th scope="col">Period</th>
                  <th scope="col">Total</th>
                  <th scope="col">Due</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((invoice) => (
                  <tr key={invoice.id ?? invoice.number ?? invoice.period.start}>
                    <td>
                      {invoice.id === null ? (
                        'draft'
                      ) : (
                        <Link to="/invoices/$id" params={{ id: invoice.id }}>
                          {invoice.number ?? invoice.id}
                        </Link>
                      )}
                    </td>
                    <td>{invoice.tenant.slug}</td>
                    <td>
                      <StateBadge state={invoice.status} />
                    </td>
                    <td>
                      {invoice.period.start.slice(0, 10)} to {invoice.period.end.slice(0, 10)}
                    </td>
                    <td>
                      {invoice.total} {invoice.currency}
                    </td>
                    <td>
                      {invoice.amount_due} {invoice.currency}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <LoadMore pages={pages} what="invoices" />
          <ApiPanel call={callOf('/v1/invoices', { query })} data={pages.data.pages} />
        </>
      )}
    </>
  );
}

const pageRoute = getRouteApi('/invoices/$id');

/** An invoice or credit note: its facts and lines, its HTML to save, and what may be done to it. */
export function InvoicePage() {
  const { id } = pageRoute.useParams();
  const invoice = useQuery({
    queryKey: ['invoice', id],
    queryFn: () => get('/v1/invoices/{id}', { path: { id } }),
  });
  return (
    <>
      {invoice.isPending ? <Loading what="the invoice" /> : null}
      {invoice.isError ? (
        <>
          <h1>{id}</h1>
          <ErrorNotice error={invoice.error} />
        </>
      ) : null}
      {invoice.data === undefined ? null : <InvoiceView id={id} invoice={invoice.data} />}
    </>
  );
}

function InvoiceView({ id, invoice }: { id: string; invoice: Invoice }) {
  const title = `${invoice.object === 'credit_note' ? 'Credit note' : 'Invoice'} ${invoice.number ?? id}`;
  return (
    <>
      <h1>
        {title} <StateBadge state={invoice.status} />
      </h1>
      <p>
        <Link to="/invoices">All invoices</Link>
      </p>
      <dl className="facts">
        <dt>Tenant</dt>
        <dd>
          <Link to="/tenants/$id" params={{ id: invoice.tenant.slug }}>
            {invoice.tenant.name}
          </Link>
        </dd>
        <dt>Period</dt>
        <dd>
          {invoice.period.start} to {invoice.period.end}
        </dd>
        <dt>Reason</dt>
        <dd>{invoice.reason.replace('_', ' ')}</dd>
        <dt>Issued</dt>
        <dd>{invoice.issued_at ?? 'not yet'}</dd>
        <dt>Subtotal</dt>
        <dd>
          {invoice.subtotal} {invoice.currency}
        </dd>
        <dt>Total</dt>
        <dd data-testid="invoice-total">
          {invoice.total} {invoice.currency}
        </dd>
        <dt>Amount due</dt>
        <dd>
          {invoice.amount_due} {invoice.currency}
        </dd>
        <dt>Paid</dt>
        <dd>{invoice.paid_at ?? 'no'}</dd>
        <dt>Payment</dt>
        <dd>
          {invoice.payment.reference ?? 'no reference'}, {invoice.payment.failures} failure
          {invoice.payment.failures === 1 ? '' : 's'}
          {invoice.payment.last_failure === null ? '' : ` (last: ${invoice.payment.last_failure})`}
        </dd>
        {invoice.credit_note === null ? null : (
          <>
            <dt>Credit note</dt>
            <dd>
              <Link to="/invoices/$id" params={{ id: invoice.credit_note.id }}>
                {invoice.credit_note.number}
              </Link>
            </dd>
          </>
        )}
        {invoice.adjusts === null ? null : (
          <>
            <dt>Adjusts</dt>
            <dd>
              <Link to="/invoices/$id" params={{ id: invoice.adjusts.id }}>
                {invoice.adjusts.number}
              </Link>
            </dd>
          </>
        )}
      </dl>
      <h2>Lines</h2>
      <table data-testid="invoice-lines">
        <caption className="visually-hidden">Lines</caption>
        <thead>
          <tr>
            <th scope="col">Description</th>
            <th scope="col">Kind</th>
            <th scope="col">Quantity</th>
            <th scope="col">Unit</th>
            <th scope="col">Amount</th>
          </tr>
        </thead>
        <tbody>
          {invoice.lines.map((line) => (
            <tr key={line.key}>
              <td>{line.description}</td>
              <td>{line.kind.replace('_', ' ')}</td>
              <td>{line.quantity}</td>
              <td>{line.unit_amount ?? ''}</td>
              <td>{line.amount}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <SaveDocument id={id} name={invoice.number ?? id} />
      <InvoiceActions id={id} invoice={invoice} />
      <ApiPanel call={callOf('/v1/invoices/{id}', { path: { id } })} data={invoice} />
    </>
  );
}

/** The invoice as the API renders it for people, a PDF or a printable HTML page, saved as a file. */
function SaveDocument({ id, name }: { id: string; name: string }) {
  const save = useSaveFile();
  const saveAs = (format: 'pdf' | 'html') =>
    save.mutate({
      call: {
        ...callOf('/v1/invoices/{id}', { path: { id } }),
        accept: format === 'pdf' ? 'application/pdf' : 'text/html',
      },
      name: `${name}.${format}`,
    });
  return (
    <section aria-label="Download" className="actions">
      <button type="button" onClick={() => saveAs('pdf')} disabled={save.isPending}>
        Download PDF
      </button>
      <button type="button" onClick={() => saveAs('html')} disabled={save.isPending}>
        Download HTML
      </button>
      {save.isError ? <ErrorNotice error={save.error} /> : null}
    </section>
  );
}

/**
 * What the console offers of the invoice's `allowed_actions`, each behind the typed number. A
 * failed payment is the payment provider's to report, not a person's.
 */
type Action = Exclude<Invoice['allowed_actions'][number], 'payment_failed'>;
const ACTIONS: readonly { action: Action; words: string }[] = [
  { action: 'pay', words: 'Record payment of' },
  { action: 'mark_uncollectible', words: 'Mark uncollectible' },
  { action: 'void', words: 'Void' },
];

/** Pay, mark uncollectible or void: those the invoice allows now, each confirmed by its number. */
function InvoiceActions({ id, invoice }: { id: string; invoice: Invoice }) {
  const client = useQueryClient();
  const [asking, setAsking] = useState<Action | undefined>();
  const [reference, setReference] = useState('');
  const change = useMutation({
    mutationFn: (action: Action) => {
      const path = { id };
      if (action === 'pay') {
        return post('/v1/invoices/{id}/pay', {
          path,
          body: reference.trim() === '' ? {} : { reference: reference.trim() },
        });
      }
      if (action === 'void') return post('/v1/invoices/{id}/void', { path, body: {} });
      return post('/v1/invoices/{id}/mark-uncollectible', { path, body: {} });
    },
    onSuccess: (changed) => {
      setAsking(undefined);
      client.setQueryData(['invoice', id], changed);
      client.invalidateQueries({ queryKey: ['invoices'] }).catch((error: unknown) => console.warn(error));
    },
  });
  const offered = ACTIONS.filter((a) => invoice.allowed_actions.includes(a.action));
  if (offered.length === 0) return null;
  const expected = invoice.number ?? id;
  const current = offered.find((a) => a.action === asking);
  return (
    <section aria-label="Actions">
      <h2>Actions</h2>
      {current === undefined ? (
        <div className="actions">
          {offered.map((a) => (
            <button key={a.action} type="button" onClick={() => setAsking(a.action)}>
              {a.action === 'pay' ? 'Record payment…' : `${a.words}…`}
            </button>
          ))}
        </div>
      ) : (
        <>
          {current.action === 'pay' ? (
            <label>
              Payment reference (optional){' '}
              <input value={reference} onChange={(event) => setReference(event.target.value)} />
            </label>
          ) : null}
          <TypedConfirm
            action={`${current.words} ${expected}`}
            expected={expected}
            busy={change.isPending}
            onConfirm={() => change.mutate(current.action)}
            onCancel={() => setAsking(undefined)}
          />
        </>
      )}
      {change.isError ? <ErrorNotice error={change.error} /> : null}
    </section>
  );
}
