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

/** The problem responses a `/v1` route may give, for the OpenAPI document. */
export const problems = {
  400: ProblemSchema,
  401: ProblemSchema,
  403: ProblemSchema,
  404: ProblemSchema,
  409: ProblemSchema,
  422: ProblemSchema,
} as const;

export const Timestamp = z.string().describe('ISO 8601, UTC');
