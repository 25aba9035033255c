import { err } from './result.ts';

/**
 * Every error code Tenantry answers with, its HTTP status and its title. This is the one
 * registry: `docs/errors.md` documents each entry and a test keeps the two in step. Codes are
 * public API: never rename one, add a new one instead.
 */
export const errorCatalog = {
  validation_failed: { status: 400, title: 'The request is not valid' },
  malformed_request: { status: 400, title: 'The request body could not be read' },
  support_bundle_invalid: { status: 400, title: 'The support bundle is not a tar.gz archive' },
  invalid_stripe_signature: { status: 400, title: 'The Stripe signature is not valid' },
  link_invalid: { status: 400, title: 'The link is not valid' },
  mfa_code_invalid: { status: 400, title: 'The code is not right' },
  csrf_token_invalid: { status: 403, title: 'The form could not be trusted' },
  invalid_credentials: { status: 401, title: 'The email or password is not right' },
  sign_in_required: { status: 401, title: 'Sign in first' },
  email_not_verified: { status: 403, title: 'The email address is not verified yet' },
  mfa_already_enabled: { status: 409, title: 'MFA is already on' },
  mfa_not_enabled: { status: 409, title: 'MFA is not on' },
  too_many_attempts: { status: 429, title: 'Too many attempts' },
  missing_api_key: { status: 401, title: 'An API key is required' },
  invalid_api_key: { status: 401, title: 'The API key is not valid' },
  missing_access_token: { status: 401, title: 'An access token is required' },
  invalid_access_token: { status: 401, title: 'The access token is not valid' },
  license_invalid: { status: 401, title: 'The license is not valid here' },
  insufficient_scope: { status: 403, title: 'The API key lacks the scope this route needs' },
  ip_not_allowed: { status: 403, title: "The address is not on the tenant's IP allow-list" },
  invitation_mismatch: { status: 403, title: 'The invitation was sent to another user' },
  insufficient_permission: { status: 403, title: 'The user lacks the permission this route needs' },
  session_not_found: { status: 404, title: 'No such session' },
  route_not_found: { status: 404, title: 'No such route' },
  tenant_not_found: { status: 404, title: 'No such tenant' },
  plan_not_found: { status: 404, title: 'No such plan' },
  plan_version_not_found: { status: 404, title: 'No such plan version' },
  api_key_not_found: { status: 404, title: 'No such API key' },
  tenant_key_not_found: { status: 404, title: 'No such tenant API key' },
  usage_event_not_found: { status: 404, title: 'No such usage event' },
  lease_not_found: { status: 404, title: 'No such lease' },
  slot_not_found: { status: 404, title: 'No such slot' },
  slot_holder_not_found: { status: 404, title: 'No such slot holder' },
  invoice_not_found: { status: 404, title: 'No such invoice' },
  payment_method_not_found: { status: 404, title: 'No such payment method' },
  test_clock_not_found: { status: 404, title: 'No such test clock' },
  webhook_endpoint_not_found: { status: 404, title: 'No such webhook endpoint' },
  webhook_delivery_not_found: { status: 404, title: 'No such webhook delivery' },
  license_not_found: { status: 404, title: 'No such license' },
  support_bundle_not_found: { status: 404, title: 'No such support bundle' },
  oidc_client_not_found: { status: 404, title: 'No such OpenID client' },
  user_not_found: { status: 404, title: 'No such user' },
  member_not_found: { status: 404, title: 'No such member' },
  role_not_found: { status: 404, title: 'No such role' },
  invitation_not_found: { status: 404, title: 'No such invitation' },
  staff_member_not_found: { status: 404, title: 'No such staff member' },
  tenant_secret_not_found: { status: 404, title: 'No such tenant secret' },
  migration_run_not_found: { status: 404, title: 'No such migration run' },
  migration_target_not_found: { status: 404, title: 'The migration run has no such target' },
  data_plane_not_found: { status: 404, title: 'No such data plane' },
  data_connection_not_found: { status: 404, title: 'The tenant has no data connection' },
  agent_not_found: { status: 404, title: 'No such agent' },
  agent_job_not_found: { status: 404, title: 'No such agent job' },
  dataset_not_found: { status: 404, title: 'The tenant has no push of that dataset' },
  rate_limit_not_found: { status: 404, title: "The tenant's plan has no such rate limit" },
  provisioning_run_not_found: { status: 404, title: 'The tenant has no provisioning run' },
  illegal_transition: { status: 409, title: 'The tenant cannot make that transition' },
  slug_taken: { status: 409, title: 'The slug is already in use' },
  data_plane_full: { status: 409, title: 'The data plane has no room for another tenant' },
  tenant_deleted: { status: 409, title: 'The tenant is deleted' },
  tenant_inactive: { status: 409, title: 'The tenant may not use anything now' },
  api_key_inactive: { status: 409, title: 'The API key is revoked or already rolled' },
  tenant_key_inactive: { status: 409, title: 'The tenant API key is revoked, expired or rolled' },
  lease_closed: { status: 409, title: 'The lease was released or has expired' },
  limit_exhausted: { status: 409, title: 'The limit has nothing left' },
  feature_disabled: { status: 409, title: "The tenant's plan does not enable the feature" },
  slot_holder_expired: { status: 409, title: 'The slot holder missed its heartbeat' },
  currency_mismatch: { status: 409, title: 'The plans are priced in different currencies' },
  illegal_invoice_transition: { status: 409, title: 'The invoice cannot make that transition' },
  period_not_ended: { status: 409, title: 'The billing period has not ended' },
  test_clock_advancing: { status: 409, title: 'The test clock is being advanced' },
  test_clock_advance_too_far: { status: 422, title: 'The test clock cannot advance that far at once' },
  license_key_missing: { status: 409, title: 'No key signs licenses yet' },
  license_already_revoked: { status: 409, title: 'The license is already revoked' },
  invitation_expired: { status: 409, title: 'The invitation has expired' },
  invitation_used: { status: 409, title: 'The invitation was already accepted' },
  invitation_revoked: { status: 409, title: 'The invitation was revoked' },
  already_member: { status: 409, title: 'The user is already a member of the tenant' },
  seat_limit_reached: { status: 409, title: "The tenant's members fill every seat its plan allows" },
  role_exists: { status: 409, title: 'A role with that key already exists' },
  role_in_use: { status: 409, title: 'Members or invitations still hold the role' },
  last_owner: { status: 409, title: 'The tenant would be left without an owner' },
  install_key_mismatch: { status: 409, title: 'The install is on record with another key' },
  support_bundle_quota_exceeded: {
    status: 409,
    title: 'The tenant holds as many support bundles as it may',
  },
  usage_report_gap: { status: 409, title: 'An earlier usage report of the install is missing' },
  usage_report_fork: { status: 409, title: 'The usage report conflicts with one already imported' },
  agent_revoked: { status: 409, title: 'The agent is revoked' },
  agent_enrolment_refused: { status: 409, title: 'The tenant cannot enrol an agent' },
  agent_not_enrolled: { status: 409, title: 'The tenant has no active agent' },
  tenant_secret_unreadable: { status: 409, title: "The tenant secret's stored value cannot be decrypted" },
  migration_target_finished: { status: 409, title: "The migration run's target has already finished" },
  migration_run_paused: { status: 409, title: 'The migration run is paused' },
  migration_run_finished: { status: 409, title: 'The migration run has ended' },
  migration_target_not_failed: { status: 409, title: "The migration run's target has not failed" },
  data_plane_name_taken: { status: 409, title: 'A live data plane already has that name' },
  data_plane_in_use: { status: 409, title: 'Tenants still live on the data plane' },
  data_plane_not_byoi: { status: 409, title: 'The tenant is not placed on its own database (byoi)' },
  data_connection_in_use: { status: 409, title: 'The tenant is active on its data connection' },
  data_plane_unreadable: { status: 409, title: "The data plane's stored connection cannot be decrypted" },
  dataset_unreadable: { status: 409, title: "The dataset's stored push cannot be decrypted" },
  data_plane_unreachable: { status: 422, title: "The data plane's server cannot be reached" },
  data_plane_auth_failed: { status: 422, title: 'The data plane refused the credentials' },
  data_plane_tls_required: { status: 422, title: 'TLS as the connection asks for it cannot be made' },
  data_plane_version_unsupported: { status: 422, title: "The data plane's PostgreSQL is too old" },
  data_plane_role_too_powerful: {
    status: 422,
    title: 'The connection logs in as a role with too much power',
  },
  data_plane_privilege_missing: { status: 422, title: 'The connection lacks a privilege the app needs' },
  self_serve_disabled: { status: 403, title: 'Self-serve sign-up is off' },
  plan_not_offered: { status: 422, title: 'The plan is not offered for self-serve trials' },
  placement_not_offered: { status: 422, title: 'The placement is not offered for self-serve trials' },
  trial_exists: { status: 409, title: 'The user already started a trial' },
  onboarding_not_found: { status: 404, title: 'The tenant was not started by self-serve sign-up' },
  onboarding_completed: { status: 409, title: "The tenant's setup wizard is already completed" },
  idempotency_key_in_progress: { status: 409, title: 'A request with this idempotency key is in progress' },
  idempotency_key_reused: { status: 422, title: 'The idempotency key was used with a different request' },
  usage_report_invalid: { status: 422, title: 'The usage report is not valid here' },
  payload_too_large: { status: 413, title: 'The request body is too large' },
  unsupported_media_type: { status: 415, title: 'The request body has an unsupported media type' },
  rate_limited: { status: 429, title: 'Too many requests' },
  internal_error: { status: 500, title: 'Internal error' },
  stripe_unavailable: { status: 502, title: 'Stripe did not complete the request' },
  not_ready: { status: 503, title: 'The service is not ready' },
} as const satisfies Record<string, { status: number; title: string }>;

/** A stable, documented error code. */
export type ErrorCode = keyof typeof errorCatalog;

/** One problem with one field of the input. `path` names the field, e.g. `plans.pro.limits.seats.value`. */
export interface FieldError {
  readonly path: string;
  readonly message: string;
  /** 1-based line in the source file, for errors found in a file (plan files). */
  readonly line?: number;
  /** 1-based column in the source file. */
  readonly column?: number;
}

/**
 * An expected failure of a domain operation. The HTTP layer turns it into an RFC 9457 problem
 * response whose `code` is {@link DomainError.code}; `details` become extension members.
 */
export interface DomainError {
  readonly code: ErrorCode;
  /** A sentence for people, specific to this occurrence. */
  readonly detail: string;
  /** Field errors, for `validation_failed`. */
  readonly errors?: readonly FieldError[];
  /** Further machine-readable members of the problem, e.g. `allowed_actions`. */
  readonly details?: Readonly<Record<string, unknown>>;
}

/** Shorthand for a failed result carrying a {@link DomainError}. */
export function fail(
  code: ErrorCode,
  detail: string,
  extra: { errors?: readonly FieldError[]; details?: Readonly<Record<string, unknown>> } = {},
): { readonly ok: false; readonly error: DomainError } {
  return err({ code, detail, ...extra });
}

/** A list's `cursor` that no page of that list gave out: tampered with, or made up. */
export function unknownCursor(): { readonly ok: false; readonly error: DomainError } {
  return fail('validation_failed', 'the cursor is not one this API gave out', {
    errors: [{ path: 'query.cursor', message: 'is not a cursor from a previous page' }],
  });
}
