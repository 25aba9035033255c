// The summary of a tenant's meetings: what `GET /v1/summary` shows. The app computes it in a
// tenant-scoped transaction for the tenants whose data it reaches; for a byoi_agent tenant the
// customer's agent runs the same SQL as the `minutes_summary` job (agent-jobs.ts) and sends back
// only these fields.
import { z } from 'zod';

/** The job type the agent registers for it. */
export const SUMMARY_JOB = 'minutes_summary';

/** The summary's fields: everything that leaves a customer's environment for it. */
export const summaryOutput = z.strictObject({
  meetings: z.number().int(),
  with_minutes: z.number().int(),
  open_action_items: z.number().int(),
  latest_held_at: z.string().nullable(),
});

export type Summary = z.infer<typeof summaryOutput>;

/**
 * The figures in one statement over the app's tables: in `schema` when given (the agent's
 * connection has no search path of the tenant's), else as the data layer's search path finds them.
 */
export function summarySql(schema?: string): string {
  const table = (name: string) => (schema === undefined ? name : `"${schema}".${name}`);
  return `select
      (select count(*)::int from ${table('meetings')}) as meetings,
      (select count(*)::int from ${table('minutes')}) as with_minutes,
      (select count(*)::int from ${table('action_items')} where not done) as open_action_items,
      (select to_char(max(held_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') from ${table('meetings')}) as latest_held_at`;
}
