import { z } from 'zod';

/** A plan version as the API takes one: from 1, within the database's integer column. */
export const PlanVersionNumber = z.int().min(1).max(2_147_483_647);

/** A tenant's overrides as the API takes them; the plan's own rules check them (docs/plans.md). */
export const Overrides = z
  .record(z.string(), z.unknown())
  .describe('Features, limits and config values that replace the plan’s; see docs/plans.md');

/** `POST /v1/tenants/{id}/change-plan` and `…/change-plan/preview`. */
export const ChangePlan = z.strictObject({
  plan: z.string().min(1),
  plan_version: PlanVersionNumber.optional(),
  at: z
    .enum(['now', 'period_end', 'auto'])
    .default('auto')
    .describe(
      '`auto` (default): an upgrade (a recurring price at least the current one) now, a downgrade at the period end',
    ),
  overrides: Overrides.optional().describe(
    "Replaces the tenant's overrides; needed when the old ones do not fit the new plan",
  ),
});
