/**
 * Framework adapters (Express, Fastify) that authenticate a request and run it in its tenant's context.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, context/.
 */
export {
  type AccessTokenProblem,
  type Authentication,
  authenticateRequest,
  resolveTenant,
  type TenantContextOptions,
} from './authenticate-request.ts';
