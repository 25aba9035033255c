import type { ReactNode } from 'react';

/**
 * Costs by category with their total, as a table: a tenant's showback and the fleet's. Kept apart
 * from the showback view, which draws a chart, so that a page showing only totals does not load
 * the chart library.
 */
export function CategoryTotals({
  totals,
  total,
  money,
  caption,
  testId,
}: {
  totals: Readonly<Record<string, string>>;
  total: string;
  money: (amount: string) => string;
  caption: ReactNode;
  testId: string;
}) {
  return (
    <table data-testid={testId}>
      <caption>{caption}</caption>
      <thead>
        <tr>
          <th scope="col">Category</th>
          <th scope="col">Amount</th>
        </tr>
      </thead>
      <tbody>
        {Object.entries(totals).map(([category, amount]) => (
          <tr key={category}>
            <th scope="row">{category}</th>
            <td className="num">{money(amount)}</td>
          </tr>
        ))}
      </tbody>
      <tfoot>
        <tr>
          <th scope="row">Total</th>
          <td className="num">{money(total)}</td>
        </tr>
      </tfoot>
    </table>
  );
}
