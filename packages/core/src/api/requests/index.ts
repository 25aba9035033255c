/**
 * The request bodies of the API's writes, as zod schemas: the control plane's routes validate
 * with them (and build the OpenAPI document from them), and the web console's forms check their
 * values with the very same objects before they send anything. One schema per body, kept here
 * rather than in the server's route files so that a client can import it without the server.
 *
 * A separate entry point (`@tenantry/core/api/requests`) from the type-only `@tenantry/core/api`:
 * only the pages that submit a form load zod.
 *
 * @example
 * ```ts
 * import { InviteMember } from '@tenantry/core/api/requests';
 * const checked = InviteMember.safeParse({ email: '', role: 'member' }); // checked.success === false
 * ```
 */

export { fromZodIssues, type ValidationIssue } from '../../validation-issue.ts';
export {
  CreateApiKey,
  DEFAULT_ROLL_OVERLAP_SECONDS,
  MAX_ROLL_OVERLAP_SECONDS,
  RollApiKey,
  ScopeName,
} from './api-keys.ts';
export { PaymentMethodInput } from './billing.ts';
export { ConnectionBody, RegisterDataPlane, SSL_MODES, UpdateDataPlane } from './data-planes.ts';
export { IssueLicense } from './licenses.ts';
export {
  AddStaff,
  ChangeMemberRole,
  CreateRole,
  DEFAULT_INVITATION_TTL_HOURS,
  InviteMember,
  MAX_INVITATION_TTL_HOURS,
  UpdateRole,
} from './members.ts';
export { BrandingSettings, CompleteOnboarding, SelfServeSettings } from './self-serve.ts';
export {
  CreateTenantApiKey,
  DEFAULT_TENANT_KEY_OVERLAP_SECONDS,
  MAX_TENANT_KEY_OVERLAP_SECONDS,
  RollTenantApiKey,
} from './tenant-keys.ts';
export { MAX_SECRET_VALUE_BYTES, SetTenantSecret } from './tenant-secrets.ts';
export { ChangePlan, Overrides, PlanVersionNumber } from './tenants.ts';
export { ImportTenantUsageReport, ImportUsageReport } from './usage-reports.ts';
export {
  CreateTenantWebhookEndpoint,
  CreateWebhookEndpoint,
  ReplayWebhookRange,
  UpdateWebhookEndpoint,
} from './webhooks.ts';
