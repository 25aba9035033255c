import { type DomainError, type ErrorCode, errorCatalog, type FieldError } from '@tenantry/core';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { z } from 'zod';

/** Where the documentation of each error code lives; a problem's `type` points into it. */
export const ERROR_DOCS_BASE = 'https://tenantry.dev/docs/errors#';

/** The RFC 9457 problem document every error response carries, with Tenantry's extensions. */
export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string().describe('Stable error code; see /docs/errors'),
    instance: z.string(),
    request_id: z.string(),
    errors: z
      .array(
        z.object({
          path: z.string(),
          message: z.string(),
          line: z.number().int().optional(),
          column: z.number().int().optional(),
        }),
      )
      .optional(),
  })
  .catchall(z.unknown())
  .meta({ id: 'Problem' });

export type Problem = z.infer<typeof ProblemSchema>;

/** Builds the problem document for a domain error raised while handling `request`. */
export function problemOf(error: DomainError, request: FastifyRequest): Problem {
  const entry = errorCatalog[error.code];
  return {
    ...error.details,
    type: ERROR_DOCS_BASE + error.code,
    title: entry.title,
    status: entry.status,
    detail: error.detail,
    code: error.code,
    instance: request.url,
    request_id: request.id,
    ...(error.errors ? { errors: [...error.errors] } : {}),
  };
}

/** Answers the request with the problem for `error`. */
export function sendProblem(reply: FastifyReply, error: DomainError): FastifyReply {
  const body = problemOf(error, reply.request);
  // Also set here, not only in the app's onSend hook, for errors Fastify meets before routing.
  return reply
    .code(body.status)
    .header('x-request-id', reply.request.id)
    .type('application/problem+json')
    .serializer(JSON.stringify)
    .send(body);
}

/** Shorthand for {@link sendProblem} with a code and a detail. */
export function replyProblem(
  reply: FastifyReply,
  code: ErrorCode,
  detail: string,
  errors?: FieldError[],
): FastifyReply {
  return sendProblem(reply, errors ? { code, detail, errors } : { code, detail });
}

const LOCATIONS: Record<string, string> = {
  body: '',
  querystring: 'query.',
  params: 'params.',
  headers: 'headers.',
};

function fieldErrorsOf(error: FastifyError): FieldError[] {
  const prefix = LOCATIONS[error.validationContext ?? 'body'] ?? '';
  const at = (segments: readonly string[]): string => {
    const path = prefix + segments.join('.');
    return path.replace(/\.$/, '') || '(body)';
  };
  return (error.validation ?? []).flatMap((v): FieldError[] => {
    const segments = v.instancePath.split('/').filter((s) => s !== '');
    // An unknown member has no path of its own: name each one, e.g. `query.foo`.
    const unknownKeys = (v.params as { keys?: unknown } | undefined)?.keys;
    if (v.keyword === 'unrecognized_keys' && Array.isArray(unknownKeys) && unknownKeys.length > 0) {
      return unknownKeys.map((key) => ({
        path: at([...segments, String(key)]),
        message: 'is not a known field',
      }));
    }
    return [{ path: at(segments), message: v.message ?? 'is not valid' }];
  });
}

/**
 * Turns anything thrown while handling a request into a problem response. Expected mistakes by
 * the caller (bad fields, unreadable JSON, wrong media type, a body too large) get a 4xx naming
 * what is wrong; anything else is logged and answered with a bare 500 that reveals nothing.
 */
export function handleError(error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  if (hasZodFastifySchemaValidationErrors(error) || error.validation) {
    const errors = fieldErrorsOf(error);
    const names = errors.map((e) => e.path).join(', ');
    return replyProblem(reply, 'validation_failed', `invalid fields: ${names}`, errors);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return replyProblem(reply, 'unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return replyProblem(
        reply,
        'payload_too_large',
        `the body is larger than ${request.server.initialConfig.bodyLimit} bytes`,
      );
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return replyProblem(reply, 'malformed_request', 'the body is empty but its content-type says JSON');
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return replyProblem(reply, 'malformed_request', `the body is not valid JSON: ${error.message}`);
    case 'FST_ERR_BAD_URL':
      return replyProblem(reply, 'malformed_request', 'the URL is not validly percent-encoded');
    case 'FST_ERR_MAX_PARAM_LENGTH':
      return replyProblem(reply, 'validation_failed', 'a path parameter is too long', [
        {
          path: 'params',
          message: `must be at most ${request.server.initialConfig.maxParamLength} characters`,
        },
      ]);
  }
  // Any other mistake Fastify found in the request (a bad Content-Length, an unknown encoding…)
  // is the caller's, not ours: answer 4xx, never 500.
  const status = error.statusCode ?? 500;
  if (status === 413) return replyProblem(reply, 'payload_too_large', error.message);
  if (status === 415) return replyProblem(reply, 'unsupported_media_type', error.message);
  if (error instanceof SyntaxError || (status >= 400 && status < 500)) {
    return replyProblem(reply, 'malformed_request', `the request could not be read: ${error.message}`);
  }
  request.log.error({ err: error }, 'unhandled error');
  return replyProblem(
    reply,
    'internal_error',
    `something went wrong; quote request id ${request.id} when reporting it`,
  );
}
