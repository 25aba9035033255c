/**
 * Bulk actions on the tenant list: which rows a click selects, the words typed to confirm, and
 * running one action over many tenants through the per-tenant API calls, each tenant's result
 * kept (some fail: a tenant deleted meanwhile, one in a state that refuses the action).
 */

export type BulkAction = 'suspend' | 'resume';

/** The state each action leaves a tenant in: a tenant already there needed nothing. */
export const BULK_TARGET: Readonly<Record<BulkAction, string>> = { suspend: 'suspended', resume: 'active' };

/** What the person types to confirm: "suspend 12 tenants". */
export function bulkPhrase(action: BulkAction, count: number): string {
  return `${action} ${count} tenant${count === 1 ? '' : 's'}`;
}

/**
 * The selection after a click on row `index` of `ids` (the loaded rows, in order): the row alone,
 * or with shift held and an earlier click (`anchor`), every row between the two, each set to
 * what the clicked row becomes.
 */
export function selectRows(
  selected: ReadonlySet<string>,
  ids: readonly string[],
  index: number,
  checked: boolean,
  anchor: number | undefined,
  shift: boolean,
): Set<string> {
  const next = new Set(selected);
  const [from, to] =
    shift && anchor !== undefined && anchor < ids.length
      ? [Math.min(anchor, index), Math.max(anchor, index)]
      : [index, index];
  for (let i = from; i <= to; i++) {
    const id = ids[i];
    if (id === undefined) continue;
    if (checked) next.add(id);
    else next.delete(id);
  }
  return next;
}

export interface BulkTarget {
  readonly id: string;
  readonly slug: string;
}

export type BulkOutcome =
  | { readonly kind: 'done' }
  /** The tenant was already in the action's state: the same end as doing it, nothing changed. */
  | { readonly kind: 'already' }
  | { readonly kind: 'failed'; readonly reason: string };

export interface BulkResult extends BulkTarget {
  readonly outcome: BulkOutcome;
}

/** An API problem as the bulk run needs it: its code, message and the tenant's state when named. */
export interface ProblemLike {
  readonly code: string;
  readonly message: string;
  readonly state?: unknown;
}

/**
 * A failed call's outcome: `illegal_transition` from a tenant already in the action's state
 * means the work is done (so running a bulk action twice ends the same: each is idempotent);
 * anything else failed, with the API's words and code.
 */
export function outcomeOf(action: BulkAction, problem: ProblemLike): BulkOutcome {
  if (problem.code === 'illegal_transition' && problem.state === BULK_TARGET[action])
    return { kind: 'already' };
  return { kind: 'failed', reason: `${problem.message} [${problem.code}]` };
}

/**
 * Runs `perform` on every target, `concurrency` at a time (a few: the API is not flooded, and a
 * few hundred tenants still take seconds), reporting each result as it comes; answers them all
 * in the targets' order.
 */
export async function runBulk(
  targets: readonly BulkTarget[],
  perform: (target: BulkTarget) => Promise<BulkOutcome>,
  onResult: (result: BulkResult) => void,
  concurrency = 4,
): Promise<BulkResult[]> {
  const results: BulkResult[] = new Array(targets.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < targets.length; i = next++) {
      const target = targets[i];
      if (target === undefined) continue;
      const result = { ...target, outcome: await perform(target) };
      results[i] = result;
      onResult(result);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, targets.length) }, worker));
  return results;
}
