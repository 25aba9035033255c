import { type DomainError, type ErrorCode, errorCatalog, type FieldError } from '@tenantry/core';
import type { FastifyError, FastifyReply, FastifyRequest, RouteOptions } from 'fastify';
import { z } from 'zod';
import { isDatabaseUnreachable } from '../db/index.ts';

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
  .meta({
    id: 'Problem',
    description:
      'An RFC 9457 problem document. `code` is stable and machine-readable (docs/errors.md lists every code); ' +
      'other members (e.g. `allowed_actions`, `required_scope`) depend on the code.',
  });

export type Problem = z.infer<typeof ProblemSchema>;

/** How long a client is asked to wait (Retry-After) when the database is unreachable: a restart's length. */
const RETRY_AFTER_UNREACHABLE_SECONDS = 5;

/** The media type of every error response. */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** What each status of a problem response means, for the OpenAPI document. */
const PROBLEM_STATUS: Readonly<Record<number, string>> = {
  400: 'The request is not valid: `validation_failed` names each bad field in `errors`; `malformed_request` when it cannot be read',
  401: '`missing_api_key` or `invalid_api_key`: no API key, or one that is unknown, revoked or expired',
  403: '`insufficient_scope`: the API key lacks the scope this operation needs (named in `required_scope`)',
  404: 'What the request names does not exist (e.g. `tenant_not_found`)',
  409: 'The request conflicts with the current state (e.g. `illegal_transition`, `slug_taken`); `idempotency_key_in_progress` while a request with the same Idempotency-Key runs',
  413: '`payload_too_large`: the body is over the limit',
  415: '`unsupported_media_type`: send the body as JSON in UTF-8',
  422: '`idempotency_key_reused`: the Idempotency-Key was first used with another request',
  429: '`rate_limited`: the API key or the tenant has sent too many requests; the Retry-After header says when to try again, and RateLimit / RateLimit-Policy (draft-ietf-httpapi-ratelimit-headers-10) what is left',
  502: 'A service the control plane depends on failed (e.g. `stripe_unavailable`); nothing was recorded',
  503: '`not_ready`: the database is unreachable (the Retry-After header says when to try again) or, on /readyz, its migrations are not current',
};

/** A problem response of the OpenAPI document: its meaning, and the Problem schema as problem+json. */
function problemResponse(status: number) {
  return {
    description: PROBLEM_STATUS[status] ?? 'A problem document; `code` says what went wrong',
    content: { [PROBLEM_MEDIA_TYPE]: { schema: ProblemSchema } },
  };
}

/**
 * Declares that `route` may answer problems with these statuses, in its response schema (and so in
 * the OpenAPI document). The code that can refuse a request declares what it refuses with — the
 * API-key check 401 and 403, the idempotency store 409 and 422 — so that no route states them by
 * hand. A status the route declared itself with the bare {@link ProblemSchema} becomes the same
 * problem+json response.
 */
export function declareProblems(route: RouteOptions, statuses: readonly number[]): void {
  const declared = (route.schema?.response ?? {}) as Readonly<Record<string, unknown>>;
  const response: Record<string, unknown> = {};
  for (const [status, schema] of Object.entries(declared)) {
    response[status] = schema === ProblemSchema ? problemResponse(Number(status)) : schema;
  }
  for (const status of statuses) response[status] ??= problemResponse(status);
  route.schema = { ...route.schema, response };
}

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

/**
 * A problem found where Fastify expects an error to be thrown or passed on (a body parser, a
 * hook's callback): the error handler answers it as the problem it carries.
 */
export class ProblemError extends Error {
  readonly problem: DomainError;
  constructor(problem: DomainError) {
    super(problem.detail);
    this.problem = problem;
    this.name = 'ProblemError';
  }
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
  return (error.validation ?? []).map((v): FieldError => {
    const segments = v.instancePath.split('/').filter((s) => s !== '');
    return { path: at(segments), message: v.message ?? 'is not valid' };
  });
}

/**
 * How much of a refused body is read and thrown away before the 413 is sent; a client that sends
 * (or declares) more gets the answer at once and its connection closed.
 */
const DISCARDED_BODY_LIMIT = 64 * 1024 * 1024;

/**
 * Resolves once the client has sent the rest of a body that is over the limit, read and thrown
 * away. Fastify stops reading at the limit, answers and closes the connection; a socket closed with
 * unread bytes in it sends a TCP reset, and a client still sending its body then fails with
 * ECONNRESET or EPIPE, often before it has read the 413. Answering after the body has been read
 * makes the close a clean one, whatever the client does (keep-alive or `Connection: close`).
 */
function discardTheBody(request: FastifyRequest): Promise<void> {
  const raw = request.raw;
  if (raw.complete || raw.destroyed || Number(request.headers['content-length']) > DISCARDED_BODY_LIMIT) {
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let discarded = 0;
    const finish = () => {
      raw.off('data', discard);
      raw.off('end', finish);
      raw.off('close', finish);
      raw.off('error', finish);
      resolve();
    };
    const discard = (chunk: Buffer) => {
      discarded += chunk.length;
      if (discarded > DISCARDED_BODY_LIMIT) finish();
    };
    raw.on('data', discard);
    raw.on('end', finish);
    raw.on('close', finish);
    raw.on('error', finish);
    raw.resume();
  });
}

/**
 * Turns anything thrown while handling a request into a problem response. Expected mistakes by
 * the caller (bad fields, unreadable JSON, wrong media type, a body too large) get a 4xx naming
 * what is wrong; anything else is logged and answered with a bare 500 that reveals nothing.
 */
export function handleError(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply | Promise<FastifyReply> {
  if (error instanceof ProblemError) return sendProblem(reply, error.problem);
  if (error.validation) {
    const errors = fieldErrorsOf(error);
    const names = errors.map((e) => e.path).join(', ');
    return replyProblem(reply, 'validation_failed', `invalid fields: ${names}`, errors);
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return replyProblem(reply, 'unsupported_media_type', 'send the body as application/json');
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return discardTheBody(request).then(() =>
        replyProblem(
          reply,
          'payload_too_large',
          `the body is larger than ${request.routeOptions.bodyLimit ?? request.server.initialConfig.bodyLimit} bytes, the limit`,
        ),
      );
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
  if (isDatabaseUnreachable(error)) {
    request.log.warn({ err: error }, 'the database is unreachable');
    reply.header('retry-after', String(RETRY_AFTER_UNREACHABLE_SECONDS));
    return replyProblem(reply, 'not_ready', 'the database is unreachable; retry later');
  }
  request.log.error({ err: error }, 'unhandled error');
  return replyProblem(
    reply,
    'internal_error',
    `something went wrong; quote request id ${request.id} when reporting it`,
  );
}
