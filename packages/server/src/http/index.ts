/**
 * The HTTP layer: the Fastify app, authentication, idempotency, problem responses and the OpenAPI document.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, api-keys/, audit/, billing/, db/, entitlements/, fleet/, migration-runs/, plans/, rate-limits/, shared modules, tenant-secrets/, tenants/, test-clocks/, tokens/, usage/, webhooks/.
 */

export type { AuthenticatedUser, UserTokenGate, UserTokenRoute } from './authentication.ts';
export { csvCell, csvRow, wantsCsv } from './csv.ts';
export { purgeExpiredIdempotencyKeys } from './idempotency.ts';
export { parseJsonBodies } from './json-body.ts';
export { declareProblems, ProblemSchema, replyProblem, sendProblem } from './problem.ts';
export { conflict, notFound, PageQuery, PlanVersionNumber, pageOf, Timestamp } from './schemas.ts';
