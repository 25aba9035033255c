import type { Aggregation } from './aggregations.ts';

/**
 * What a limit counts, which decides how it is enforced and whether it resets:
 * - `seats`: the built-in seat limit, compared with the tenant's seat count;
 * - `metered`: a total over the billing period that starts again at zero each period;
 * - `gauge`: a current level that never resets (sessions open now, storage in use now).
 */
export type LimitKind = 'seats' | 'metered' | 'gauge';

/**
 * The kind of a limit on a meter with `aggregation`. Meters that accumulate over the period
 * (`sum`, `count`, `unique_count`, `max`) give `metered` limits. Meters that describe a level
 * (`latest`, `time_weighted`) give `gauge` limits: such a meter may be *billed* as value × time
 * (GB-hours, session-hours), but what a vendor limits is the level itself — "at most 5
 * concurrent sessions" means 5 open now, not 5 session-hours this month.
 */
export function limitKind(aggregation: Aggregation): 'metered' | 'gauge' {
  return aggregation === 'latest' || aggregation === 'time_weighted' ? 'gauge' : 'metered';
}
