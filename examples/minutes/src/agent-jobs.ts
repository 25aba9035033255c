// The job types minutes registers in a customer's agent (`tenantry agent --jobs
// node_modules/@tenantry/example-minutes/src/agent-jobs.ts`): what the app asks of a byoi_agent
// tenant's environment, which it never reaches itself. Each output schema is the declaration of
// what may leave that environment: counts and a date, never a title, a body or a name.
import { defineJobType, JobFailure } from '@tenantry/agent';
import { BINDING_SETTING, parseBindingKey, TenantBinder } from '@tenantry/sdk';
import { z } from 'zod';
import { SUMMARY_JOB, summaryOutput, summarySql } from './summary.ts';

const Schema = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, 'a plain lowercase identifier')
  .describe("the tenant's app schema");

const summary = defineJobType({
  type: SUMMARY_JOB,
  input: z.strictObject({ schema: Schema }),
  output: summaryOutput,
  run: async ({ schema }, ctx) =>
    ctx.withDatabase(async (db) => {
      // The app's tables keep to the tenant binding (FORCE ROW LEVEL SECURITY), even for their
      // owner: the agent binds its transaction to its tenant with the tenant's own key, which the
      // customer gave it (TENANTRY_BINDING_KEY), as the app's SDK does for its own requests.
      let key: Buffer;
      try {
        key = parseBindingKey(process.env.TENANTRY_BINDING_KEY);
      } catch (error) {
        throw new JobFailure('binding_key_missing', (error as Error).message);
      }
      const pid = (await db.query('select pg_backend_pid() as pid')).rows[0]?.pid as number;
      await db.query('begin read only');
      try {
        await db.query('select set_config($1, $2, true)', [
          BINDING_SETTING,
          new TenantBinder(key).bind(ctx.tenantId, pid),
        ]);
        const row = (await db.query(summarySql(schema))).rows[0] as z.input<typeof summaryOutput>;
        return row;
      } finally {
        await db.query('rollback');
      }
    }),
});

/** What `--jobs` loads. */
export const jobTypes = [summary];
