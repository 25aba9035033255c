import type { EventType } from './event-types.ts';

/** What an audit entry's target can be: the kind of the object the action changed. */
export const TARGET_TYPES = [
  'tenant',
  'plan',
  'meter',
  'api_key',
  'access_token',
  'signing_key',
  'invoice',
  'credit_note',
  'usage_event',
  'test_clock',
  'audit_log',
  'audit_chain',
  'webhook_endpoint',
  'webhook_delivery',
  'license_key',
  'license',
  'usage_report',
  'support_bundle',
  'access_catalogue',
  'member',
  'invitation',
  'role',
  'access_policy',
  'staff_member',
  'tenant_secret',
  'tenant_data_key',
  'tenant_api_key',
  'user',
  'session',
  'oidc_client',
  'migration_run',
  'data_plane',
  'agent',
  'agent_enrolment',
  'agent_job',
  'dataset',
  'settings',
] as const;

/** One of {@link TARGET_TYPES}. */
export type TargetType = (typeof TARGET_TYPES)[number];

/** What describes an audit action; see {@link AUDIT_ACTIONS}. */
export interface AuditActionSpec {
  readonly description: string;
  /** The kind of object the action changes. */
  readonly target: TargetType;
  /**
   * The event types the action raises, one per change: the first unless the change names
   * another of them (a tenant activated from `past_due` raises `tenant.reactivated`, one
   * activated from `trialing` `tenant.activated`). Empty: the action raises no event.
   */
  readonly raises: readonly EventType[];
  /** Further events a change of this action may raise beside its own (a trial's end with its activation). */
  readonly also?: readonly EventType[];
  /**
   * Whether the change alters what a tenant may do (its state, plan, limits, usage): every
   * control-plane process is told on commit, and drops that tenant's cached entitlements.
   */
  readonly entitlements: boolean;
}

/**
 * Everything the audit log records, by action name `<object>.<past participle>`. This is the one
 * list: the change recorder writes only these, `docs/events.md` documents each (a test keeps the
 * two in step), and audit filters take these names. Each says what kind of object it targets,
 * which events it raises (so a change cannot forget its event) and whether it touches a tenant's
 * entitlements (so it cannot forget to announce it).
 *
 * Actions are public API, as audit exports outlive releases: never rename one, add one instead.
 */
export const AUDIT_ACTIONS = {
  'tenant.created': {
    description: 'A tenant was registered (its provisioning is queued)',
    target: 'tenant',
    raises: ['tenant.created'],
    also: ['subscription.created'],
    entitlements: false,
  },
  'tenant.updated': {
    description: "A tenant's name, region, seats, overrides or metadata changed",
    target: 'tenant',
    raises: ['tenant.updated'],
    also: ['subscription.updated'],
    entitlements: true,
  },
  'tenant.plan_changed': {
    description: 'A tenant moved to another plan or plan version: at once, or as scheduled',
    target: 'tenant',
    raises: ['subscription.updated'],
    entitlements: true,
  },
  'tenant.plan_change_scheduled': {
    description: "A plan change was scheduled for the end of the tenant's billing period",
    target: 'tenant',
    raises: ['subscription.plan_change_scheduled'],
    entitlements: true,
  },
  'tenant.provisioned': {
    description: "A tenant's placement was provisioned: provisioning → trialing or active",
    target: 'tenant',
    raises: ['tenant.provisioned'],
    entitlements: true,
  },
  'tenant.provisioning_failed': {
    description: "A tenant's provisioning stopped at a failed step: provisioning → provisioning_failed",
    target: 'tenant',
    raises: ['tenant.provisioning_failed'],
    entitlements: true,
  },
  'tenant.provisioning_retried': {
    description: 'Provisioning was started again: provisioning_failed → provisioning',
    target: 'tenant',
    raises: ['tenant.provisioning_retried'],
    entitlements: true,
  },
  'tenant.activated': {
    description:
      'A trialing or past-due tenant became active (the `activate` action, a trial end, a payment)',
    target: 'tenant',
    raises: ['tenant.activated', 'tenant.reactivated'],
    also: ['trial.ended'],
    entitlements: true,
  },
  'tenant.resumed': {
    description:
      'A suspended tenant became active (the `resume` action, or a payment lifting a billing suspension)',
    target: 'tenant',
    raises: ['tenant.reactivated'],
    entitlements: true,
  },
  'tenant.marked_past_due': {
    description: 'An active tenant became past due (the `mark_past_due` action, or a failed payment)',
    target: 'tenant',
    raises: ['tenant.past_due'],
    entitlements: true,
  },
  'tenant.suspended': {
    description:
      'A tenant was suspended (the `suspend` action, nonpayment, or a trial end without a payment method)',
    target: 'tenant',
    raises: ['tenant.suspended'],
    also: ['trial.ended'],
    entitlements: true,
  },
  'tenant.cancelled': {
    description: 'A tenant was cancelled; its subscription ended',
    target: 'tenant',
    raises: ['tenant.cancelled'],
    entitlements: true,
  },
  'tenant.deleted': {
    description: "A tenant was deleted; its data's removal is scheduled",
    target: 'tenant',
    raises: ['tenant.deleted'],
    entitlements: true,
  },
  'tenant.purged': {
    description: "A deleted tenant's data (schema, database or pool rows) was removed",
    target: 'tenant',
    raises: ['tenant.purged'],
    entitlements: false,
  },
  'tenant.stripe_customer_created': {
    description: 'A Stripe customer was made for the tenant',
    target: 'tenant',
    raises: [],
    entitlements: false,
  },
  'trial.will_end': {
    description: 'A tenant was reminded that its trial ends soon (once per trial end)',
    target: 'tenant',
    raises: ['trial.will_end'],
    entitlements: false,
  },
  'payment_method.attached': {
    description: 'A payment method was put on file for the tenant',
    target: 'tenant',
    raises: ['payment_method.attached'],
    entitlements: false,
  },
  'payment_method.removed': {
    description: "The tenant's payment method was taken off file",
    target: 'tenant',
    raises: ['payment_method.removed'],
    entitlements: false,
  },
  'dunning.started': {
    description: 'An unpaid invoice entered dunning',
    target: 'invoice',
    raises: ['dunning.started'],
    entitlements: false,
  },
  'dunning.resolved': {
    description: 'An invoice left dunning (paid, voided or written off)',
    target: 'invoice',
    raises: ['dunning.resolved'],
    entitlements: false,
  },
  'invoice.payment_retry_requested': {
    description: "A dunning retry fell due and the invoice's payment was asked for again",
    target: 'invoice',
    raises: ['invoice.payment_retry'],
    entitlements: false,
  },
  'invoice.finalized': {
    description: 'An invoice was finalized',
    target: 'invoice',
    raises: ['invoice.finalized'],
    entitlements: false,
  },
  'invoice.paid': {
    description: 'An invoice was marked paid',
    target: 'invoice',
    raises: ['invoice.paid'],
    entitlements: false,
  },
  'invoice.payment_failed': {
    description: "An invoice's failed payment was recorded",
    target: 'invoice',
    raises: ['invoice.payment_failed'],
    entitlements: false,
  },
  'invoice.voided': {
    description: 'An invoice was voided',
    target: 'invoice',
    raises: ['invoice.voided'],
    entitlements: false,
  },
  'invoice.marked_uncollectible': {
    description: 'An invoice was written off as uncollectible',
    target: 'invoice',
    raises: ['invoice.marked_uncollectible'],
    entitlements: false,
  },
  'invoice.sent_to_stripe': {
    description: 'An invoice was created and finalized in Stripe',
    target: 'invoice',
    raises: ['invoice.sent_to_stripe'],
    entitlements: false,
  },
  'invoice.stripe_sync_failed': {
    description: 'Sending an invoice to Stripe was given up',
    target: 'invoice',
    raises: ['invoice.stripe_sync_failed'],
    entitlements: false,
  },
  'invoice.stripe_void_failed': {
    description: 'Voiding an invoice in Stripe was given up',
    target: 'invoice',
    raises: ['invoice.stripe_void_failed'],
    entitlements: false,
  },
  'invoice.voided_in_stripe': {
    description: 'A voided invoice was voided (or its draft deleted) in Stripe',
    target: 'invoice',
    raises: ['invoice.voided_in_stripe'],
    entitlements: false,
  },
  'invoice.paid_in_stripe_after_void': {
    description: 'A voided invoice turned out to be paid in Stripe already',
    target: 'invoice',
    raises: ['invoice.paid_in_stripe_after_void'],
    entitlements: false,
  },
  'credit_note.issued': {
    description: 'A credit note was issued',
    target: 'credit_note',
    raises: ['credit_note.issued'],
    entitlements: false,
  },
  'usage_event.voided': {
    description: 'A recorded usage event was voided; its hour was recomputed',
    target: 'usage_event',
    raises: [],
    entitlements: true,
  },
  'usage.threshold_reached': {
    description: "A tenant's usage of a meter reached a threshold of its limit in a period",
    target: 'meter',
    raises: ['usage.threshold_reached'],
    entitlements: false,
  },
  'audit.read': {
    description: "The audit log was read or exported (the target is the tenant's id, or `all`)",
    target: 'audit_log',
    raises: [],
    entitlements: false,
  },
  'audit.pruned': {
    description: 'Entries older than the retention were pruned from a chain, behind a signed checkpoint',
    target: 'audit_chain',
    raises: [],
    entitlements: false,
  },
  'plan.created': {
    description: 'A plan was created by a plan file (version 1)',
    target: 'plan',
    raises: [],
    entitlements: false,
  },
  'plan.version_created': {
    description: 'A plan file changed a plan: a new version (tenants stay on theirs until moved)',
    target: 'plan',
    raises: [],
    entitlements: false,
  },
  'meter.created': {
    description: 'A plan file defined a new meter',
    target: 'meter',
    raises: [],
    entitlements: false,
  },
  'meter.updated': {
    description: "A plan file changed a meter's name, unit, aggregation or unique_by",
    target: 'meter',
    raises: [],
    entitlements: false,
  },
  'api_key.created': {
    description: 'An API key was created (its secret is never recorded)',
    target: 'api_key',
    raises: ['key.created'],
    entitlements: false,
  },
  'api_key.rolled': {
    description: 'An API key was rolled to a successor',
    target: 'api_key',
    raises: ['key.rolled'],
    entitlements: false,
  },
  'api_key.revoked': {
    description: 'An API key was revoked',
    target: 'api_key',
    raises: ['key.revoked'],
    entitlements: false,
  },
  'oidc_client.created': {
    description: 'An app was registered as an OpenID client (its secret is never recorded)',
    target: 'oidc_client',
    raises: [],
    entitlements: false,
  },
  'oidc_client.deleted': {
    description: 'An OpenID client was deleted; its sign-ins and refresh tokens stop at once',
    target: 'oidc_client',
    raises: [],
    entitlements: false,
  },
  'access_token.issued': {
    description:
      "The OpenID provider issued a user's access token to an app, at sign-in or on refresh (its jti, never the token)",
    target: 'access_token',
    raises: [],
    entitlements: false,
  },
  'refresh_token.refused': {
    description:
      "An app's refresh was refused because the user is no longer a member of the tenant, or the tenant may no longer act",
    target: 'access_token',
    raises: [],
    entitlements: false,
  },
  'access_token.minted': {
    description: "An access token was minted for a tenant's user (the token itself is never recorded)",
    target: 'access_token',
    raises: [],
    entitlements: false,
  },
  'signing_key.created': {
    description: 'A key pair that signs access tokens was generated',
    target: 'signing_key',
    raises: [],
    entitlements: false,
  },
  'signing_key.rotated': {
    description: 'The signing keys were rotated: the next became active, the active retired',
    target: 'signing_key',
    raises: [],
    entitlements: false,
  },
  'signing_key.sealed': {
    description: "A signing key's private half, stored in clear before, was sealed with the master key",
    target: 'signing_key',
    raises: [],
    entitlements: false,
  },
  'signing_key.resealed': {
    description: "A signing key's private half was sealed again with the current master key",
    target: 'signing_key',
    raises: [],
    entitlements: false,
  },
  'test_clock.created': {
    description: 'A test clock was created',
    target: 'test_clock',
    raises: [],
    entitlements: false,
  },
  'test_clock.advanced': {
    description: "A test clock's advance was requested",
    target: 'test_clock',
    raises: [],
    entitlements: false,
  },
  'test_clock.ready': {
    description: "A test clock's advance finished: its tenants' time moved",
    target: 'test_clock',
    raises: [],
    entitlements: true,
  },
  'test_clock.advance_failed': {
    description: "A test clock's advance stopped short of its target",
    target: 'test_clock',
    raises: [],
    entitlements: true,
  },
  'test_clock.deleted': {
    description: 'A test clock was deleted, with its tenants',
    target: 'test_clock',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.created': {
    description: 'A webhook endpoint was created (its signing secret is never recorded)',
    target: 'webhook_endpoint',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.updated': {
    description: "A webhook endpoint's URL, description, event types or status changed",
    target: 'webhook_endpoint',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.deleted': {
    description: 'A webhook endpoint was deleted, with its delivery log',
    target: 'webhook_endpoint',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.secret_rotated': {
    description: "A webhook endpoint's signing secret was rotated; the old one signs too until it expires",
    target: 'webhook_endpoint',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.secret_resealed': {
    description: "A webhook endpoint's signing secrets were sealed again with the current master key",
    target: 'webhook_endpoint',
    raises: [],
    entitlements: false,
  },
  'webhook_endpoint.disabled': {
    description: 'A webhook endpoint was disabled by its deliveries: a 410 answer, or failing for too long',
    target: 'webhook_endpoint',
    raises: ['webhook_endpoint.disabled'],
    entitlements: false,
  },
  'tenant_secret.set': {
    description: "A tenant's secret was created, as version 1 (its value is never recorded)",
    target: 'tenant_secret',
    raises: ['tenant_secret.set'],
    entitlements: false,
  },
  'tenant_secret.rotated': {
    description:
      "A tenant's secret was given a new value, as its next version; the previous one is destroyed",
    target: 'tenant_secret',
    raises: ['tenant_secret.rotated'],
    entitlements: false,
  },
  'tenant_secret.deleted': {
    description: "A tenant's secret was deleted, with its ciphertext",
    target: 'tenant_secret',
    raises: ['tenant_secret.deleted'],
    entitlements: false,
  },
  'tenant_secret.read': {
    description: "A tenant's secret was decrypted for the vendor's app (its value is never recorded)",
    target: 'tenant_secret',
    raises: [],
    entitlements: false,
  },
  'tenant_data_key.resealed': {
    description:
      "A tenant's data key, which encrypts its secrets, was sealed again with the current master key",
    target: 'tenant_data_key',
    raises: [],
    entitlements: false,
  },
  'tenant_data_key.destroyed': {
    description:
      "A deleted tenant's data key was destroyed with its secrets: any copy of their ciphertexts is unreadable (crypto-shredding)",
    target: 'tenant_data_key',
    raises: [],
    entitlements: false,
  },
  'webhook_delivery.replayed': {
    description: "Webhook deliveries were queued again: one, or an endpoint's over a time range",
    target: 'webhook_delivery',
    raises: [],
    entitlements: false,
  },
  'license_key.created': {
    description:
      'An Ed25519 key pair that signs licenses was generated; it signs from now on, the previous key retired',
    target: 'license_key',
    raises: [],
    entitlements: false,
  },
  'license_key.resealed': {
    description: "A license key's private half was sealed again with the current master key",
    target: 'license_key',
    raises: [],
    entitlements: false,
  },
  'license_key.module_signed': {
    description: "A private module's name and SHA-256 were signed with the active license key",
    target: 'license_key',
    raises: [],
    entitlements: false,
  },
  'license.issued': {
    description: 'A license was signed for a tenant from its plan version and overrides',
    target: 'license',
    raises: ['license.issued'],
    entitlements: false,
  },
  'license.superseded': {
    description:
      "A tenant's active license was replaced by one issued after it (its `license.issued` event names it)",
    target: 'license',
    raises: [],
    entitlements: false,
  },
  'license.revoked': {
    description: 'A license was revoked',
    target: 'license',
    raises: ['license.revoked'],
    entitlements: false,
  },
  'license.checked_in': {
    description:
      'An install checked in with a license: its last check-in, version and reported seats were recorded',
    target: 'license',
    raises: ['license.checked_in'],
    entitlements: false,
  },
  'usage_report.imported': {
    description:
      "A self-hosted install's offline usage report was verified and its events stored as the tenant's usage",
    target: 'usage_report',
    raises: ['usage_report.imported'],
    entitlements: true,
  },
  'support_bundle.uploaded': {
    description: "A support bundle of a tenant's install was uploaded and stored for the vendor's staff",
    target: 'support_bundle',
    raises: ['support_bundle.uploaded'],
    entitlements: false,
  },
  'support_bundle.deleted': {
    description: 'A support bundle was deleted',
    target: 'support_bundle',
    raises: [],
    entitlements: false,
  },
  'access.applied': {
    description:
      "A new version of the vendor's access file (permission catalogue and built-in roles) was applied",
    target: 'access_catalogue',
    raises: [],
    entitlements: false,
  },
  'member.invited': {
    description:
      'A user was invited to a tenant with a role (made by email if new); the link is never recorded',
    target: 'invitation',
    raises: ['member.invited'],
    entitlements: false,
  },
  'member.invitation_revoked': {
    description: 'An open invitation was withdrawn before it was accepted; it holds no seat any more',
    target: 'invitation',
    raises: [],
    entitlements: false,
  },
  'member.joined': {
    description: 'A user accepted an invitation and became a member of the tenant',
    target: 'member',
    raises: ['member.joined'],
    entitlements: false,
  },
  'member.role_changed': {
    description: "A member's role in the tenant changed",
    target: 'member',
    raises: ['member.role_changed'],
    entitlements: false,
  },
  'member.removed': {
    description: 'A member was removed from the tenant',
    target: 'member',
    raises: ['member.removed'],
    // The snapshot names the removed user, so that apps refuse their tokens at once.
    entitlements: true,
  },
  'role.created': {
    description: 'A tenant created a custom role',
    target: 'role',
    raises: [],
    entitlements: false,
  },
  'role.updated': {
    description: "A custom role's name or permissions changed",
    target: 'role',
    raises: [],
    entitlements: false,
  },
  'role.deleted': {
    description: 'A custom role no member held was deleted',
    target: 'role',
    raises: [],
    entitlements: false,
  },
  // Announced like a plan change: the tenant's IP allow-list travels in its API key set, which
  // the SDK revalidates when the entitlement stream names the tenant.
  'access_policy.updated': {
    description: "A tenant's access policy (MFA required, IP allow-list) changed",
    target: 'access_policy',
    raises: ['access_policy.updated'],
    entitlements: true,
  },
  'staff.added': {
    description:
      "A user joined the vendor's operator organisation with an operator role, or their role changed",
    target: 'staff_member',
    raises: [],
    entitlements: false,
  },
  'staff.removed': {
    description: "A user left the vendor's operator organisation",
    target: 'staff_member',
    raises: [],
    entitlements: false,
  },
  // Announced like a plan change: the SDK verifies tenant keys from a cache that the entitlement
  // stream's word on the tenant keeps current, so a revoked key stops working within that bound.
  'tenant_key.created': {
    description:
      "An API key was created for a tenant's use of the vendor's API (its secret is never recorded)",
    target: 'tenant_api_key',
    raises: ['tenant_key.created'],
    entitlements: true,
  },
  'tenant_key.rolled': {
    description: "A tenant's API key was rolled: a successor was made, and the key expires after the overlap",
    target: 'tenant_api_key',
    raises: ['tenant_key.rolled'],
    entitlements: true,
  },
  'tenant_key.revoked': {
    description: "A tenant's API key was revoked: it is refused from now on",
    target: 'tenant_api_key',
    raises: ['tenant_key.revoked'],
    entitlements: true,
  },
  'user.signed_up': {
    description: 'A person signed up on the hosted pages: a user with a password, its email not yet verified',
    target: 'user',
    raises: ['user.signed_up'],
    entitlements: false,
  },
  'user.verification_sent': {
    description: 'A new email verification link was made for a user (its secret is never recorded)',
    target: 'user',
    raises: [],
    entitlements: false,
  },
  'user.email_verified': {
    description: 'A user followed its email verification link',
    target: 'user',
    raises: ['user.email_verified'],
    entitlements: false,
  },
  'user.signed_in': {
    description: 'A user signed in: a session began (after the second factor, when the user has one)',
    target: 'user',
    raises: ['user.signed_in'],
    entitlements: false,
  },
  'user.password_verified': {
    description:
      "A user's password was right and its second factor is asked for next: the session waits for it",
    target: 'user',
    raises: [],
    entitlements: false,
  },
  'user.sign_in_failed': {
    description: 'A sign-in was refused; the target is `unknown` when no user has the email given',
    target: 'user',
    raises: ['user.sign_in_failed'],
    entitlements: false,
  },
  'user.password_reset_requested': {
    description: 'A password reset link was made for a user (its secret is never recorded)',
    target: 'user',
    raises: [],
    entitlements: false,
  },
  'user.password_reset': {
    description: 'A user set a new password through a reset link; every session of the user was ended',
    target: 'user',
    raises: ['user.password_reset'],
    entitlements: false,
  },
  'user.mfa_enrolment_started': {
    description: 'A user began enrolling a TOTP authenticator; MFA is on only once a code confirms it',
    target: 'user',
    raises: [],
    entitlements: false,
  },
  'user.mfa_enrolled': {
    description: 'A user confirmed a TOTP authenticator: MFA is on, with new recovery codes',
    target: 'user',
    raises: ['user.mfa_enrolled'],
    entitlements: false,
  },
  'user.mfa_failed': {
    description: 'A second-factor code was refused (wrong, replayed, or over the attempt limit)',
    target: 'user',
    raises: ['user.mfa_failed'],
    entitlements: false,
  },
  'user.mfa_disabled': {
    description: 'A user turned MFA off (with a code); its authenticator and recovery codes were removed',
    target: 'user',
    raises: ['user.mfa_disabled'],
    entitlements: false,
  },
  'user.recovery_code_used': {
    description: 'A user answered the second factor with a recovery code, which is now spent',
    target: 'user',
    raises: ['user.recovery_code_used'],
    entitlements: false,
  },
  'user.recovery_codes_regenerated': {
    description: 'A user replaced its recovery codes with new ones; the old ones no longer work',
    target: 'user',
    raises: ['user.recovery_codes_regenerated'],
    entitlements: false,
  },
  'session.ended': {
    description: 'A sign-in session ended: signed out, signed out everywhere, or a password reset',
    target: 'session',
    raises: ['session.ended'],
    entitlements: false,
  },
  'migration_run.created': {
    description: "A run of the vendor's app migrations across targets was started, with its canaries",
    target: 'migration_run',
    raises: ['migration_run.created'],
    entitlements: false,
  },
  'migration_run.target_finished': {
    description:
      'One target of a migration run finished: applied, verified, rehearsed (dry run), failed or skipped, with its versions',
    target: 'migration_run',
    raises: ['migration_run.target_finished'],
    entitlements: false,
  },
  'migration_run.finished': {
    description: 'A migration run ended: every target finished, and the run succeeded or failed',
    target: 'migration_run',
    raises: ['migration_run.finished'],
    entitlements: false,
  },
  'migration_run.paused': {
    description: 'A migration run was paused: no further target starts until it is resumed',
    target: 'migration_run',
    raises: ['migration_run.paused'],
    entitlements: false,
  },
  'migration_run.resumed': {
    description: 'A paused migration run was resumed: its coordinator starts its pending targets again',
    target: 'migration_run',
    raises: ['migration_run.resumed'],
    entitlements: false,
  },
  'migration_run.target_retried': {
    description:
      "A failed target of a migration run was set pending again, for the run's coordinator to run it again",
    target: 'migration_run',
    raises: ['migration_run.target_retried'],
    entitlements: false,
  },
  'data_plane.registered': {
    description:
      'A vendor data plane was registered, its connection validated (its password is never recorded)',
    target: 'data_plane',
    raises: ['data_plane.registered'],
    entitlements: false,
  },
  'data_plane.updated': {
    description:
      "A data plane's name, region, capacity or connection changed (a new connection is validated first)",
    target: 'data_plane',
    raises: ['data_plane.updated'],
    entitlements: false,
  },
  'data_plane.retired': {
    description: 'A data plane was retired: no tenant lives on it, and its connection details were destroyed',
    target: 'data_plane',
    raises: ['data_plane.retired'],
    entitlements: false,
  },
  'data_plane.health_changed': {
    description: "A data plane's health changed, as the scheduled health check found it",
    target: 'data_plane',
    raises: ['data_plane.health_changed'],
    entitlements: false,
  },
  'data_connection.set': {
    description:
      "A BYOI tenant's data connection was validated and stored, as its customer data plane (its password is never recorded)",
    target: 'data_plane',
    raises: ['data_connection.set'],
    entitlements: false,
  },
  'data_connection.removed': {
    description:
      "A BYOI tenant's data connection was forgotten; the customer's database and data are left as they are",
    target: 'data_plane',
    raises: ['data_connection.removed'],
    entitlements: false,
  },
  'data_connection.read': {
    description:
      "A BYOI tenant's data connection was decrypted for the vendor's app (its password is never recorded)",
    target: 'data_plane',
    raises: [],
    entitlements: false,
  },
  'agent_enrolment.created': {
    description:
      "A one-time enrolment token for an agent was made for a tenant, with the tenant's agent data plane (the token is never recorded)",
    target: 'agent_enrolment',
    raises: [],
    entitlements: false,
  },
  'agent.enrolled': {
    description: 'An agent spent an enrolment token and was given its credential (never recorded)',
    target: 'agent',
    raises: ['agent.enrolled'],
    entitlements: false,
  },
  'agent.credential_rotated': {
    description:
      'An agent was sent a new credential; its old one works until the agent acknowledges the new one',
    target: 'agent',
    raises: [],
    entitlements: false,
  },
  'agent.credential_confirmed': {
    description: 'An agent acknowledged its new credential: the old one stops working',
    target: 'agent',
    raises: [],
    entitlements: false,
  },
  'agent.revoked': {
    description: 'An agent was revoked: its connection is closed and its credential refused from now on',
    target: 'agent',
    raises: ['agent.revoked'],
    entitlements: false,
  },
  'agent_job.queued': {
    description: 'A job was queued for an agent; it is sent when the agent is connected',
    target: 'agent_job',
    raises: [],
    entitlements: false,
  },
  'agent_job.finished': {
    description: "An agent's job ended: succeeded, failed, or refused by the agent",
    target: 'agent_job',
    raises: ['agent_job.finished'],
    entitlements: false,
  },
  'dataset.received': {
    description:
      "A customer's agent pushed a dataset the customer enabled: its sequence, SHA-256, size and field names (never its content), stored encrypted",
    target: 'dataset',
    raises: ['dataset.received'],
    entitlements: false,
  },
  'dataset.enabled': {
    description: 'The customer switched a dataset on at their agent, as the agent reported it',
    target: 'dataset',
    raises: [],
    entitlements: false,
  },
  'dataset.disabled': {
    description:
      'The customer switched a dataset off at their agent: the agent pushes none of it from then on',
    target: 'dataset',
    raises: [],
    entitlements: false,
  },
  'dataset.read': {
    description: "A dataset's latest push was decrypted for the vendor (its content is never recorded)",
    target: 'dataset',
    raises: [],
    entitlements: false,
  },
  'settings.updated': {
    description: "The vendor's self-serve sign-up or branding settings changed",
    target: 'settings',
    raises: [],
    entitlements: false,
  },
  'signup.trial_started': {
    description:
      'A verified user started a self-serve trial: a tenant on an offered plan, with the user as its owner',
    target: 'tenant',
    raises: [],
    entitlements: false,
  },
  'signup.wizard_completed': {
    description: 'The owner of a self-serve trial completed its setup wizard',
    target: 'tenant',
    raises: [],
    entitlements: false,
  },
} as const satisfies Record<string, AuditActionSpec>;

/** One audit action of {@link AUDIT_ACTIONS}. */
export type AuditAction = keyof typeof AUDIT_ACTIONS;

/** The event types a change of `A` may raise as its own event. */
export type RaisesOf<A extends AuditAction> = (typeof AUDIT_ACTIONS)[A]['raises'][number];

/** The event a change of `A` raises when it names none: the first of its `raises`. */
export type DefaultEventOf<A extends AuditAction> = (typeof AUDIT_ACTIONS)[A]['raises'] extends readonly [
  infer First extends EventType,
  ...unknown[],
]
  ? First
  : never;

/** The further event types a change of `A` (of any of them, for a union) may raise beside its own. */
export type AlsoOf<A extends AuditAction> = A extends AuditAction
  ? (typeof AUDIT_ACTIONS)[A] extends { readonly also: readonly (infer T extends EventType)[] }
    ? T
    : never
  : never;

/** The kind of object a change of `A` targets. */
export type TargetOf<A extends AuditAction> = (typeof AUDIT_ACTIONS)[A]['target'];

/** Whether `value` is an audit action of the registry, for input that has not been validated. */
export function isAuditAction(value: string): value is AuditAction {
  return Object.hasOwn(AUDIT_ACTIONS, value);
}
