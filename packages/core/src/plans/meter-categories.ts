/**
 * What a meter measures, for showback's cost breakdown: a closed list, set per meter in the plan
 * file (`category:`), never guessed from the aggregation (memory GB-hours and storage GB-months
 * are both time-weighted, and belong to different lines of a cost report).
 * - `compute`: CPU, memory, GPU time, sessions or instances running;
 * - `storage`: data kept (GB-months, objects, backups);
 * - `network`: data moved (egress GB, bandwidth);
 * - `requests`: calls and operations (API calls, messages, builds);
 * - `seats`: people using the product (active users);
 * - `other`: anything else, and every meter whose file says nothing.
 */
export const METER_CATEGORIES = ['compute', 'storage', 'network', 'requests', 'seats', 'other'] as const;

/** One of {@link METER_CATEGORIES}. */
export type MeterCategory = (typeof METER_CATEGORIES)[number];

/** The category of a meter whose plan file sets none. */
export const DEFAULT_METER_CATEGORY: MeterCategory = 'other';
