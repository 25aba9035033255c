import { describe, expect, it } from 'vitest';
import { keysetPage } from './index.ts';

interface Row {
  readonly id: string;
  readonly seq: number;
}

const rows = (n: number): Row[] => Array.from({ length: n }, (_, i) => ({ id: `row_${i + 1}`, seq: i + 1 }));
const view = (row: Row) => ({ name: `view of ${row.id}` });
const cursor = (row: Row) => `after ${row.seq}`;

describe('keysetPage', () => {
  it('ends the list when fewer rows than the limit came back', () => {
    expect(keysetPage(rows(2), 3, view, cursor)).toEqual({
      data: [{ name: 'view of row_1' }, { name: 'view of row_2' }],
      next_cursor: null,
    });
  });

  it('ends the list when exactly the limit came back', () => {
    const page = keysetPage(rows(3), 3, view, cursor);
    expect(page.data).toEqual([
      { name: 'view of row_1' },
      { name: 'view of row_2' },
      { name: 'view of row_3' },
    ]);
    expect(page.next_cursor).toBeNull();
  });

  it('keeps the limit and gives the cursor of the last kept row when one more came back', () => {
    const page = keysetPage(rows(4), 3, view, cursor);
    expect(page.data).toEqual([
      { name: 'view of row_1' },
      { name: 'view of row_2' },
      { name: 'view of row_3' },
    ]);
    expect(page.data).not.toContainEqual({ name: 'view of row_4' });
    expect(page.next_cursor).toBe('after 3');
  });

  it('computes the cursor from the row, never from the view', () => {
    const seen: unknown[] = [];
    const page = keysetPage(rows(3), 2, view, (row) => {
      seen.push(row);
      return row.id;
    });
    expect(seen).toEqual([{ id: 'row_2', seq: 2 }]);
    expect(page.next_cursor).toBe('row_2');
  });

  it('gives an empty last page for no rows', () => {
    expect(keysetPage([], 5, view, cursor)).toEqual({ data: [], next_cursor: null });
  });
});
