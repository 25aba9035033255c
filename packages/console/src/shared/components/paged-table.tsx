import type { InfiniteData, UseInfiniteQueryResult } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import type { Call } from '../api.ts';
import { ApiPanel } from './api-panel.tsx';
import { LoadMore, useNextPage } from './load-more.tsx';
import { ErrorNotice, Loading } from './status.tsx';
import { type Column, VirtualTable } from './virtual-table.tsx';

/**
 * A long list read page by page by the API's cursor (`useCursorPages`), shown as a virtual table:
 * while it loads, its error, then how many rows are loaded (`12+ tenants` while more pages
 * exist), the table, whose last row coming into view reads the next page, **Load more** for the
 * same by keyboard, and the API panel of `call` (the first page's request) with every page read.
 */
export function PagedTable<T>({
  pages,
  what,
  noun,
  empty,
  countId,
  label,
  columns,
  rowKey,
  call,
  toolbar,
  children,
}: {
  pages: UseInfiniteQueryResult<InfiniteData<{ data: T[] }>>;
  /** The rows, plural, as "Loading …" and the log name them: "data planes". */
  what: string;
  /** One row, singular, as the count names it ("data plane"); the plural adds an s. */
  noun: string;
  /** The count's words when no row matches; else "0 data planes". */
  empty?: string;
  /** The count's data-testid. */
  countId: string;
  /** The table's caption. */
  label: string;
  columns: readonly Column<T>[];
  rowKey: (row: T) => string;
  call: Call;
  /** Shown between the count and the table (e.g. the actions on the selected rows). */
  toolbar?: ReactNode;
  /** Shown after the API panel (e.g. another request's panel). */
  children?: ReactNode;
}) {
  const more = useNextPage(pages, what);
  const rows = pages.data?.pages.flatMap((page) => page.data) ?? [];
  return (
    <>
      {pages.isPending ? <Loading what={what} /> : null}
      {pages.isError ? <ErrorNotice error={pages.error} /> : null}
      {pages.data === undefined ? null : (
        <>
          <p role="status" data-testid={countId}>
            {rows.length === 0 && empty !== undefined
              ? empty
              : `${rows.length}${pages.hasNextPage ? '+' : ''} ${noun}${rows.length === 1 ? '' : 's'}`}
          </p>
          {toolbar}
          {rows.length === 0 ? null : (
            <VirtualTable label={label} rows={rows} columns={columns} rowKey={rowKey} onEnd={more} />
          )}
          <LoadMore pages={pages} what={what} />
          <ApiPanel call={call} data={pages.data.pages} />
          {children}
        </>
      )}
    </>
  );
}
