import { type QueryKey, useInfiniteQuery } from '@tanstack/react-query';

/** A page of a list the API reads by cursor (`GET /v1/tenants`, `/v1/data-planes`, `/v1/showback`…). */
interface CursorPage {
  readonly next_cursor: string | null;
}

/**
 * A list read page after page by the API's cursor (TanStack Query's infinite query): `read` GETs
 * the page after `cursor` (the first when undefined), the next page is asked for with the cursor
 * the last one gave, and none once the API gives none.
 */
export function useCursorPages<P extends CursorPage>(
  queryKey: QueryKey,
  read: (cursor: string | undefined) => Promise<P>,
) {
  return useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam }) => read(pageParam),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.next_cursor ?? undefined,
  });
}
