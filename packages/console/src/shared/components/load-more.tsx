import { useCallback } from 'react';

/** The part of a cursor-paged query (TanStack Query's infinite query) that reads its next page. */
interface NextPage {
  readonly hasNextPage: boolean;
  readonly isFetchingNextPage: boolean;
  fetchNextPage(): Promise<unknown>;
}

/**
 * Reads the next page, if there is one and none is being read already: the one handler for
 * **Load more** and for a virtual table's last row coming into view. Stable while the query's
 * paging state is, so that an effect calling it does not run on every render. A failed read is
 * the query's to show; `what` names the list in the log.
 */
export function useNextPage(pages: NextPage, what: string): () => void {
  const { hasNextPage, isFetchingNextPage, fetchNextPage } = pages;
  return useCallback(() => {
    if (hasNextPage && !isFetchingNextPage) {
      fetchNextPage().catch((error: unknown) => console.error(`could not read more ${what}`, error));
    }
  }, [hasNextPage, isFetchingNextPage, fetchNextPage, what]);
}

/**
 * **Load more** under a list read page by page by the API's cursor: shown while a next page
 * exists, disabled while it is read. `what` names the list in the log; `label` the button
 * (`Older` for a log read newest first).
 */
export function LoadMore({
  pages,
  what,
  label = 'Load more',
}: {
  pages: NextPage;
  what: string;
  label?: string;
}) {
  const more = useNextPage(pages, what);
  if (!pages.hasNextPage) return null;
  return (
    <button type="button" onClick={more} disabled={pages.isFetchingNextPage}>
      {pages.isFetchingNextPage ? 'Loading…' : label}
    </button>
  );
}
