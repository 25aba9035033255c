/** The part of a cursor-paged query (TanStack Query's infinite query) that reads its next page. */
interface NextPage {
  readonly hasNextPage: boolean;
  readonly isFetchingNextPage: boolean;
  fetchNextPage(): Promise<unknown>;
}

/**
 * **Load more** under a list read page by page by the API's cursor: shown while a next page
 * exists, disabled while it is read. A failed read is the query's to show; `what` names the list
 * in the log; `label` the button (`Older` for a log read newest first).
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
  if (!pages.hasNextPage) return null;
  const more = () => {
    pages.fetchNextPage().catch((error: unknown) => console.error(`could not read more ${what}`, error));
  };
  return (
    <button type="button" onClick={more} disabled={pages.isFetchingNextPage}>
      {pages.isFetchingNextPage ? 'Loading…' : label}
    </button>
  );
}
