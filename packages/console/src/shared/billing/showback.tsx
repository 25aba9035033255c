// Loaded on its own (React.lazy in the operator's tenant billing view and the portal's billing
// page): recharts is most of this chunk's weight, and only the showback and usage views draw a
// chart. One component for both, so that an operator and the tenant's members see the same costs.
import { useQuery } from '@tanstack/react-query';
import type { Schemas } from '@tenantry/core/api';
import { useState } from 'react';
import { Bar, BarChart, CartesianGrid, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { callOf, get } from '../api.ts';
import { ApiPanel, ErrorNotice, Loading } from '../components/index.ts';
import { useSaveFile } from '../save-file.ts';
import { CategoryTotals } from './category-totals.tsx';

type Report = Schemas['Showback'];

/** Consumers named in the table and the chart; the rest come as one row. */
const TOP = 10;

/**
 * A tenant's costs for a billing period (`GET /v1/tenants/{id}/showback`): by category, and by
 * subject (the users or workloads the app recorded usage for), as a table and a bar chart, with
 * the period picked by month (the current one when none is) and the API's CSV to download.
 */
export function Showback({ tenant }: { tenant: { id: string; slug: string } }) {
  const [period, setPeriod] = useState('');
  const query = { top: TOP, ...(period === '' ? {} : { period }) };
  const showback = useQuery({
    queryKey: ['showback', tenant.id, period],
    queryFn: () => get('/v1/tenants/{id}/showback', { path: { id: tenant.id }, query }),
  });
  const save = useSaveFile();
  const data = showback.data;
  const csv = () =>
    save.mutate({
      call: {
        ...callOf('/v1/tenants/{id}/showback', { path: { id: tenant.id }, query }),
        accept: 'text/csv',
      },
      name: `showback-${tenant.slug}-${data?.period.start.slice(0, 7) ?? period}.csv`,
    });
  return (
    <section aria-labelledby="showback-heading">
      <h2 id="showback-heading">Showback</h2>
      <div className="filters">
        <label>
          Period starting in (empty: the current one)
          <input type="month" value={period} onChange={(event) => setPeriod(event.target.value)} />
        </label>
        <button type="button" onClick={csv} disabled={data === undefined}>
          Download CSV
        </button>
      </div>
      {showback.isPending ? <Loading what="the showback" /> : null}
      {showback.isError ? <ErrorNotice error={showback.error} /> : null}
      {save.isError ? <ErrorNotice error={save.error} /> : null}
      {data === undefined ? null : <Breakdown report={data} />}
      <ApiPanel
        label="Showback API"
        call={callOf('/v1/tenants/{id}/showback', { path: { id: tenant.slug }, query })}
        data={data ?? null}
      />
    </section>
  );
}

function Breakdown({ report }: { report: Report }) {
  const money = (amount: string) => `${amount} ${report.currency.toUpperCase()}`;
  // The chart's bar lengths only: the amounts written out stay the API's exact decimals.
  const bars = report.consumers.map((c) => ({ subject: c.subject || '(none)', amount: Number(c.amount) }));
  return (
    <>
      <CategoryTotals
        testId="showback"
        totals={report.totals}
        total={report.total}
        money={money}
        caption={
          <>
            By category, {report.period.start} to {report.period.end}, from{' '}
            {report.source === 'invoice' ? `invoice ${report.invoice?.number ?? ''}` : 'a preview'}
          </>
        }
      />
      {report.consumers.length === 0 ? (
        <p>No usage recorded with a subject in this period.</p>
      ) : (
        <>
          <table data-testid="showback-consumers">
            <caption>By subject: each one's share of the usage charges</caption>
            <thead>
              <tr>
                <th scope="col">Subject</th>
                <th scope="col">Amount</th>
                <th scope="col">Share</th>
                <th scope="col">Meters</th>
              </tr>
            </thead>
            <tbody>
              {report.consumers.map((consumer) => (
                <tr key={consumer.subject}>
                  <th scope="row">{consumer.subject || '(no subject)'}</th>
                  <td className="num">{money(consumer.amount)}</td>
                  <td className="num">{consumer.share} %</td>
                  <td>{consumer.usage.map((u) => `${u.description}: ${u.quantity}`).join(', ')}</td>
                </tr>
              ))}
              {report.other_consumers === null ? null : (
                <tr>
                  <th scope="row">{report.other_consumers.count} more</th>
                  <td className="num">{money(report.other_consumers.amount)}</td>
                  <td className="num">{report.other_consumers.share} %</td>
                  <td />
                </tr>
              )}
            </tbody>
          </table>
          <figure className="chart">
            <figcaption>
              Usage charges by subject ({report.currency.toUpperCase()}), the table's figures
            </figcaption>
            <ResponsiveContainer width="100%" height={240}>
              <BarChart data={bars} margin={{ top: 8, right: 16, bottom: 8, left: 8 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="subject" />
                <YAxis />
                <Tooltip />
                <Bar dataKey="amount" name="amount" fill="#5b8def" isAnimationActive={false} />
              </BarChart>
            </ResponsiveContainer>
          </figure>
        </>
      )}
    </>
  );
}
