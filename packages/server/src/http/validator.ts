import { fromZodIssues } from '@tenantry/core/api/requests';
import type { FastifySchema, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import type { z } from 'zod';

/**
 * Fastify's validator for the routes' zod schemas. Each issue is worded by `fromZodIssues`, as the
 * plan-file checks and the console's forms word them ("url must not be empty", "limit must be at
 * most 100, not 101"), instead of zod's own messages, which are written for developers ("Too small:
 * expected string to have >=1 characters"). The console checks a form with the same schema before
 * it sends, so a refusal reads the same from either. Unknown members are one issue each, at their
 * own path. `reportInput` lets a message quote the value it refuses (cut to 60 characters).
 */
export const validatorCompiler: FastifySchemaCompiler<FastifySchema> =
  ({ schema }) =>
  (data) => {
    const result = (schema as z.ZodType).safeParse(data, { reportInput: true });
    if (result.success) return { value: result.data };
    const errors: FastifySchemaValidationError[] = fromZodIssues(result.error.issues).map((issue) => ({
      keyword: 'zod',
      instancePath: issue.path.map((key) => `/${key}`).join(''),
      schemaPath: '#',
      params: {},
      message: issue.message,
    }));
    return { error: errors };
  };
