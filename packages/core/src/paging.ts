/** One page of a list, with the cursor of the next page (null on the last). */
export interface Page<T> {
  data: T[];
  next_cursor: string | null;
}

/**
 * The page a keyset-paged list shows of `rows`, which its query fetched with a limit of
 * `limit + 1`: one row more than a page holds tells that another page follows, without counting.
 * The page holds the views of the first `limit` rows; its `next_cursor` is the key of the last of
 * them, computed from the row (not the view), when there were more rows, else null.
 */
export function keysetPage<Row, Item>(
  rows: readonly Row[],
  limit: number,
  view: (row: Row) => Item,
  cursor: (row: Row) => string,
): Page<Item> {
  const kept = rows.slice(0, limit);
  const last = kept.at(-1);
  return {
    data: kept.map((row) => view(row)),
    next_cursor: rows.length > limit && last !== undefined ? cursor(last) : null,
  };
}
