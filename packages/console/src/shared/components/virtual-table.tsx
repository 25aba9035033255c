import { useVirtualizer } from '@tanstack/react-virtual';
import { type ReactNode, useEffect, useRef } from 'react';

export interface Column<T> {
  /** The column's name: its key, and its heading unless `heading` is given. */
  readonly header: string;
  /** What the heading shows instead of `header` (e.g. a "select all" checkbox). */
  readonly heading?: ReactNode;
  /** The cell of `row`, the `index`th of `rows`. */
  readonly cell: (row: T, index: number) => ReactNode;
}

/** A row's height in pixels, as the stylesheet sets it (.vt td). */
const ROW_HEIGHT = 40;

/**
 * A table of many rows of which only those in view are in the DOM (TanStack Virtual): a real
 * <table>, the rows out of view replaced by two spacer rows, so that screen readers and the
 * keyboard meet a table. Its scrolling region takes the focus, to scroll by keyboard. `onEnd` is
 * called when the last row comes into view: the next page loads.
 */
export function VirtualTable<T>({
  label,
  rows,
  columns,
  rowKey,
  onEnd,
}: {
  label: string;
  rows: readonly T[];
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  onEnd?: (() => void) | undefined;
}) {
  const scroller = useRef<HTMLElement>(null);
  const virtualizer = useVirtualizer({
    count: rows.length,
    getScrollElement: () => scroller.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 10,
  });
  const items = virtualizer.getVirtualItems();
  const first = items[0];
  const last = items.at(-1);
  const before = first?.start ?? 0;
  const after = last === undefined ? 0 : virtualizer.getTotalSize() - last.end;
  useEffect(() => {
    if (onEnd !== undefined && last !== undefined && last.index >= rows.length - 1) onEnd();
  }, [last, rows.length, onEnd]);
  return (
    // biome-ignore lint/a11y/noNoninteractiveTabindex: a scrolling region must take the focus to be scrolled by keyboard (WCAG 2.1.1)
    <section ref={scroller} className="vt" tabIndex={0} aria-label={`${label} (scrollable)`}>
      <table>
        <caption className="visually-hidden">{label}</caption>
        <thead>
          <tr>
            {columns.map((c) => (
              <th scope="col" key={c.header}>
                {c.heading ?? c.header}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {before > 0 ? (
            <tr>
              <td colSpan={columns.length} style={{ height: `${before}px`, padding: 0, border: 0 }} />
            </tr>
          ) : null}
          {items.map((item) => {
            const row = rows[item.index];
            if (row === undefined) return null;
            return (
              <tr key={rowKey(row)}>
                {columns.map((c) => (
                  <td key={c.header}>{c.cell(row, item.index)}</td>
                ))}
              </tr>
            );
          })}
          {after > 0 ? (
            <tr>
              <td colSpan={columns.length} style={{ height: `${after}px`, padding: 0, border: 0 }} />
            </tr>
          ) : null}
        </tbody>
      </table>
    </section>
  );
}
