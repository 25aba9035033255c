/**
 * How a meter combines the usage events of a period into one quantity:
 * - `sum`: total of the event values (CPU-hours, API calls with a weight);
 * - `count`: number of events;
 * - `max`: largest value seen;
 * - `unique_count`: number of distinct subjects (or distinct values of one property);
 * - `latest`: the most recent value (a level such as storage in use);
 * - `time_weighted`: value × time, for levels billed by duration (GB-hours, concurrent sessions).
 */
export const AGGREGATIONS = ['sum', 'count', 'max', 'unique_count', 'latest', 'time_weighted'] as const;

/** One of {@link AGGREGATIONS}. */
export type Aggregation = (typeof AGGREGATIONS)[number];
