import { describe, expect, it } from 'vitest';
import { type BulkOutcome, type BulkResult, bulkPhrase, outcomeOf, runBulk, selectRows } from './bulk.ts';

const ids = ['a', 'b', 'c', 'd', 'e'];

describe('selectRows', () => {
  it('selects or clears one row without shift', () => {
    expect([...selectRows(new Set(), ids, 2, true, 0, false)]).toEqual(['c']);
    expect([...selectRows(new Set(['a', 'c']), ids, 2, false, 0, false)]).toEqual(['a']);
  });

  it('selects the range from the last click with shift, either way round', () => {
    expect([...selectRows(new Set(), ids, 3, true, 1, true)].sort()).toEqual(['b', 'c', 'd']);
    expect([...selectRows(new Set(), ids, 0, true, 2, true)].sort()).toEqual(['a', 'b', 'c']);
    expect([...selectRows(new Set(ids), ids, 4, false, 2, true)].sort()).toEqual(['a', 'b']);
  });

  it('takes a shift-click without an earlier click, or with one past the rows, as one row', () => {
    expect([...selectRows(new Set(), ids, 3, true, undefined, true)]).toEqual(['d']);
    expect([...selectRows(new Set(), ids, 3, true, 9, true)]).toEqual(['d']);
  });
});

describe('bulk confirmation and outcomes', () => {
  it('phrases the count', () => {
    expect(bulkPhrase('suspend', 12)).toBe('suspend 12 tenants');
    expect(bulkPhrase('resume', 1)).toBe('resume 1 tenant');
  });

  it('counts a tenant already in the target state as done, anything else as failed with why', () => {
    expect(outcomeOf('suspend', { code: 'illegal_transition', message: 'no', state: 'suspended' })).toEqual({
      kind: 'already',
    });
    expect(outcomeOf('resume', { code: 'illegal_transition', message: 'no', state: 'active' })).toEqual({
      kind: 'already',
    });
    expect(
      outcomeOf('suspend', { code: 'illegal_transition', message: 'is deleted', state: 'deleted' }),
    ).toEqual({
      kind: 'failed',
      reason: 'is deleted [illegal_transition]',
    });
    expect(outcomeOf('suspend', { code: 'not_found', message: 'gone' })).toEqual({
      kind: 'failed',
      reason: 'gone [not_found]',
    });
  });

  it('runs every target a few at a time, keeping their order and reporting each', async () => {
    const targets = Array.from({ length: 10 }, (_, i) => ({ id: `ten_${i}`, slug: `t-${i}` }));
    let running = 0;
    let most = 0;
    const seen: BulkResult[] = [];
    const results = await runBulk(
      targets,
      async (target): Promise<BulkOutcome> => {
        running += 1;
        most = Math.max(most, running);
        await new Promise((resolve) => setTimeout(resolve, Number(target.id.slice(4)) % 3));
        running -= 1;
        return target.id === 'ten_4' ? { kind: 'failed', reason: 'no' } : { kind: 'done' };
      },
      (result) => seen.push(result),
      3,
    );
    expect(results.map((r) => r.id)).toEqual(targets.map((t) => t.id));
    expect(results[4]?.outcome).toEqual({ kind: 'failed', reason: 'no' });
    expect(seen.length).toBe(10);
    expect(most).toBeLessThanOrEqual(3);
  });
});
