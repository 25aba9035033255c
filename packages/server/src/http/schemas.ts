import { z } from 'zod';
import { ProblemSchema } from './problem.ts';

/** `?limit=&cursor=` on every list. */
export const PageQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20).describe('Items per page, 1 to 100'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page'),
});

/** A page of `item`s. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({ data: z.array(item), next_cursor: z.string().nullable() });
}

/*
 * The problems a route may answer that are its own. Those of the shared machinery are declared
 * where it refuses the request (see declareProblems): 400 on every route, 401 and 403 on every `/v1`
 * route, 413 and 415 where a body is taken, 409 and 422 where Idempotency-Key is honoured.
 */

/** What the route names (a tenant, an invoice…) may not exist. */
export const notFound = { 404: ProblemSchema } as const;

/** What the route changes may be in a state that does not allow it. */
export const conflict = { 409: ProblemSchema } as const;

export const Timestamp = z.string().describe('ISO 8601, UTC');

/** A plan version as the API takes one; with the request bodies that hold one, in core. */
export { PlanVersionNumber } from '@tenantry/core/api/requests';
