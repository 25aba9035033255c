import { z } from 'zod';
import { TENANT_STATES } from '../tenants/index.ts';

/**
 * The events Tenantry raises, for subscribers (webhook endpoints, the vendor's CRM and
 * alerting): `<object>.<what happened>`. This is the one list: every event the server writes is
 * one of these, `docs/events.md` documents each (a test keeps the two in step), and webhook
 * endpoints subscribe to these names. Each has a description, the version of its payload and
 * the payload's schema, which the OpenAPI document will publish for webhook receivers.
 *
 * Event types and their payloads are public API. A payload may gain optional members within its
 * version; removing or changing a member needs a new version. Never rename a type: add one.
 */

/** An instant, as an ISO 8601 string in UTC. */
const Instant = z.iso.datetime().describe('An instant, ISO 8601 in UTC');

const TenantStateSchema = z.enum(TENANT_STATES);

const PlanRef = z.object({
  plan: z.string().describe("The plan's key"),
  version: z.number().int().describe('The plan version'),
  seats: z.number().int().optional().describe('The seat count'),
});

/**
 * A tenant moved from one lifecycle state to another. What caused it adds members: billing's
 * `cause` and `invoice_id`, a trial's end, the error that failed provisioning.
 */
const TenantTransition = z.object({
  from: TenantStateSchema.describe('The state the tenant left'),
  to: TenantStateSchema.describe('The state the tenant is in now'),
  reason: z
    .string()
    .optional()
    .describe("The new state's reason (`state_reason`): an operator's words, or billing's code"),
  cause: z
    .enum(['invoice_paid', 'invoice_voided', 'payment_method_attached'])
    .optional()
    .describe('What reactivated the tenant, when billing did'),
  invoice_id: z.string().optional().describe('The invoice whose payment (or failure) made the change'),
  suspend_at: Instant.optional().describe('When an unpaid invoice will suspend the tenant'),
  unpaid_since: Instant.optional().describe('When the unpaid invoice that suspended the tenant failed first'),
  trial_ends_at: Instant.optional().describe("The trial's end, for a change its end made"),
  plan: z.string().optional().describe("The tenant's plan, for a change a trial's end made"),
  payment_method_on_file: z.boolean().optional().describe('Whether a payment method was on file'),
});

const Money = z.string().describe('A decimal amount in major units of the currency, e.g. `"343.00"`');

const BillingDocument = z.object({
  number: z.string().describe("The document's sequential number"),
  reason: z.string().describe('Why it was made: `period`, `late_usage`, `void`, …'),
  adjusts: z.string().optional().describe('The invoice a credit note adjusts'),
  status: z.string().describe('Its status once written: `open`, `paid`, `issued`, …'),
  currency: z.string().describe('ISO 4217 code'),
  total: Money,
  period: z.object({ start: Instant, end: Instant }).describe('The billing period it covers, [start, end)'),
});

const InvoiceSettled = z.object({
  invoice: z.string().describe("The invoice's id"),
  number: z.string().describe("The invoice's number"),
  from: z.string().describe('Its status before'),
  to: z.string().describe('Its status now (unchanged for a failed payment)'),
  reference: z.string().optional().describe("The payment's reference, as given"),
  reason: z.string().optional().describe('Why, as given (a failed payment, a void)'),
  credit_note: z
    .object({ id: z.string(), number: z.string() })
    .optional()
    .describe('The credit note a void issued'),
});

const StripeInvoice = z.object({
  invoice_id: z.string().describe("The Tenantry invoice's id"),
  stripe_invoice_id: z.string().describe("Stripe's invoice id"),
});

/** A tenant's secret as its events name it: never its value. */
const TenantSecretVersion = z.object({
  name: z.string().describe("The secret's name"),
  version: z.number().int().describe('The version that is current now (for a deletion, the one deleted)'),
});

const KeyKind = z.enum(['operator', 'restricted']).describe('An operator key holds every scope');

const PaymentMethod = z.object({
  reference: z.string().describe("The provider's id of the method, or the vendor's own reference"),
  brand: z.string().nullable().describe('E.g. `visa`'),
  last4: z.string().nullable().describe('The last four digits'),
});

const EmptyPayload = z.object({});

/** A data plane as its events name it: never its connection's password. */
const DataPlaneRef = z.object({
  data_plane_id: z.string().describe('`dpl_…`'),
  name: z.string().describe("The data plane's name"),
  kind: z.enum(['vendor', 'customer', 'agent']).describe('Whose server it is'),
  region: z.string().nullable().describe('Where it is, as the vendor names regions'),
});

const DataPlaneHealth = z.enum(['unknown', 'healthy', 'degraded', 'unhealthy']);

/** What describes an event type; see {@link EVENT_TYPES}. */
export interface EventTypeSpec {
  readonly description: string;
  /** The version of the payload; see the note on {@link EVENT_TYPES}. */
  readonly version: number;
  /** The payload (`data`) every event of the type carries. */
  readonly payload: z.ZodObject;
}

export const EVENT_TYPES = {
  'tenant.created': {
    description: 'A tenant was registered; its placement is being provisioned',
    version: 1,
    payload: z.object({
      slug: z.string(),
      plan: z.string().describe("The plan's key"),
      plan_version: z.number().int(),
      placement: z.string().describe('pool, schema, database, byoi or self_hosted'),
      test_clock: z.string().optional().describe('The test clock it lives on, for a test tenant'),
    }),
  },
  'tenant.updated': {
    description: "A tenant's name, region, seats, overrides or metadata changed",
    version: 1,
    payload: z.object({ fields: z.array(z.string()).describe('The fields the request set') }),
  },
  'tenant.provisioned': {
    description: "A tenant's placement was provisioned; it is trialing or active",
    version: 1,
    payload: TenantTransition,
  },
  'tenant.provisioning_failed': {
    description: "A tenant's provisioning stopped at a failed step; `reason` says why",
    version: 1,
    payload: TenantTransition,
  },
  'tenant.provisioning_retried': {
    description: 'A tenant whose provisioning failed is being provisioned again',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.activated': {
    description: 'A trialing tenant became active: its trial was converted, at its end or before',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.reactivated': {
    description:
      'A past-due or suspended tenant became active again: resumed by an operator, or by a payment (`cause`)',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.past_due': {
    description: "An active tenant's payment failed; it keeps its entitlements while dunning retries",
    version: 1,
    payload: TenantTransition,
  },
  'tenant.suspended': {
    description:
      'A tenant was suspended and lost its entitlements: by an operator, for nonpayment or at a trial end',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.cancelled': {
    description: 'A tenant was cancelled; its subscription ended',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.deleted': {
    description: 'A tenant was deleted; its data is removed after the retention period',
    version: 1,
    payload: TenantTransition,
  },
  'tenant.purged': {
    description: "A deleted tenant's schema, database or rows were removed",
    version: 1,
    payload: EmptyPayload,
  },
  'subscription.created': {
    description: "A tenant's subscription started, with its plan, seats and trial",
    version: 1,
    payload: z.object({
      plan: z.string(),
      plan_version: z.number().int(),
      seats: z.number().int(),
      trial_ends_at: Instant.nullable().describe("The trial's end, or null without a trial"),
    }),
  },
  'subscription.updated': {
    description: "A subscription's plan, plan version or seats changed, now or as scheduled",
    version: 1,
    payload: z.object({
      from: PlanRef.describe('The terms before'),
      to: PlanRef.describe('The terms now'),
      scheduled: z.boolean().optional().describe('True when a scheduled change took effect'),
    }),
  },
  'subscription.plan_change_scheduled': {
    description: "A plan change was scheduled for the end of the subscription's billing period",
    version: 1,
    payload: z.object({ from: PlanRef, to: PlanRef, effective_at: Instant }),
  },
  'trial.will_end': {
    description: "A tenant's trial ends in a few days; `outcome` says what its end will do",
    version: 1,
    payload: z.object({
      trial_ends_at: Instant,
      plan: z.string(),
      requires_payment_method: z.boolean(),
      payment_method_on_file: z.boolean(),
      outcome: z.enum(['active', 'suspended']),
    }),
  },
  'trial.ended': {
    description: "A tenant's trial ended: it became active, or suspended for want of a payment method",
    version: 1,
    payload: TenantTransition,
  },
  'payment_method.attached': {
    description: 'A payment method was put on file for a tenant, replacing the last',
    version: 1,
    payload: PaymentMethod.extend({
      replaced: z.string().nullable().describe('The reference it replaced, if any'),
    }),
  },
  'payment_method.removed': {
    description: "A tenant's payment method was taken off file",
    version: 1,
    payload: PaymentMethod,
  },
  'dunning.started': {
    description: "An invoice's payment failed and it entered dunning, with its retries and suspension date",
    version: 1,
    payload: z.object({
      invoice_id: z.string(),
      round: z.number().int(),
      retry_at: z.array(Instant),
      suspend_at: Instant,
    }),
  },
  'dunning.resolved': {
    description: 'An invoice left dunning: paid, voided or written off',
    version: 1,
    payload: z.object({
      invoice_id: z.string(),
      round: z.number().int(),
      opened_at: Instant,
      cause: z.enum(['invoice_paid', 'invoice_voided', 'invoice_uncollectible']),
      reactivated: z.boolean(),
      still_unpaid: z.array(z.string()),
    }),
  },
  'invoice.finalized': {
    description: 'An invoice was finalized: open for payment, or settled at once when it totals zero',
    version: 1,
    payload: z.object({ invoice: z.string().describe("The invoice's id"), ...BillingDocument.shape }),
  },
  'invoice.paid': { description: 'An invoice was paid', version: 1, payload: InvoiceSettled },
  'invoice.payment_failed': {
    description: "An invoice's payment failed (its status stays)",
    version: 1,
    payload: InvoiceSettled,
  },
  'invoice.voided': {
    description: 'An invoice was voided; a credit note reverses it',
    version: 1,
    payload: InvoiceSettled,
  },
  'invoice.marked_uncollectible': {
    description: 'An invoice was written off as uncollectible (it can still be paid)',
    version: 1,
    payload: InvoiceSettled,
  },
  'invoice.payment_retry': {
    description: 'A dunning retry of an unpaid invoice fell due: charge it again',
    version: 1,
    payload: z.object({
      invoice_id: z.string(),
      round: z.number().int(),
      attempt: z.number().int(),
      attempts: z.number().int(),
      next_retry_at: Instant.nullable(),
      suspend_at: Instant,
    }),
  },
  'invoice.sent_to_stripe': {
    description: 'An invoice was created and finalized in Stripe, which collects it',
    version: 1,
    payload: StripeInvoice.extend({
      number: z.string(),
      stripe_customer_id: z.string(),
      stripe_number: z.string().nullable(),
      hosted_invoice_url: z.string().nullable(),
    }),
  },
  'invoice.stripe_sync_failed': {
    description: 'Sending an invoice to Stripe failed for good; it needs a person',
    version: 1,
    payload: z.object({ invoice_id: z.string(), error: z.string() }),
  },
  'invoice.stripe_void_failed': {
    description: 'Voiding an invoice in Stripe failed for good; it needs a person',
    version: 1,
    payload: z.object({ invoice_id: z.string(), error: z.string() }),
  },
  'invoice.voided_in_stripe': {
    description: 'An invoice voided in Tenantry was voided (or deleted as a draft) in Stripe',
    version: 1,
    payload: StripeInvoice.extend({
      stripe_status: z.string().nullable().describe("The Stripe invoice's status when it was looked at"),
      outcome: z.enum(['voided', 'deleted', 'paid', 'already_void']),
    }),
  },
  'invoice.paid_in_stripe_after_void': {
    description: 'An invoice voided in Tenantry had already been paid in Stripe: refund it by hand',
    version: 1,
    payload: StripeInvoice.extend({
      stripe_status: z.string().nullable().describe("The Stripe invoice's status when it was looked at"),
      outcome: z.enum(['voided', 'deleted', 'paid', 'already_void']),
    }),
  },
  'credit_note.issued': {
    description: 'A credit note was issued, reversing an invoice (or part of it)',
    version: 1,
    payload: z.object({ credit_note: z.string().describe("The credit note's id"), ...BillingDocument.shape }),
  },
  'usage.threshold_reached': {
    description:
      "A tenant's usage of a limited meter reached a threshold (e.g. 80 %) of its limit this period",
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      meter: z.string(),
      threshold: z.number().int().describe('Percent of the limit'),
      limit: z.number(),
      used: z.number(),
      period: z.object({ start: Instant, end: Instant }),
    }),
  },
  'key.created': {
    description: 'An API key was created (its secret is shown once, to its creator, never in an event)',
    version: 1,
    payload: z.object({
      name: z.string(),
      kind: KeyKind,
      scopes: z.array(z.string()).nullable().describe("A restricted key's scopes; null for an operator key"),
      rolled_from: z.string().optional().describe('The key it succeeds, when a roll made it'),
    }),
  },
  'key.rolled': {
    description: 'An API key was rolled: a successor was made, and the old key expires after the overlap',
    version: 1,
    payload: z.object({
      name: z.string(),
      rolled_to: z.string().describe('The successor'),
      expires_at: Instant.describe('When the rolled key stops working'),
    }),
  },
  'key.revoked': {
    description: 'An API key was revoked',
    version: 1,
    payload: z.object({ name: z.string() }),
  },
  'tenant_secret.set': {
    description: "A tenant's secret was created (version 1); the event never carries its value",
    version: 1,
    payload: TenantSecretVersion,
  },
  'tenant_secret.rotated': {
    description: "A tenant's secret was given a new value: reads answer the new version from now on",
    version: 1,
    payload: TenantSecretVersion,
  },
  'tenant_secret.deleted': {
    description: "A tenant's secret was deleted",
    version: 1,
    payload: TenantSecretVersion,
  },
  'webhook_endpoint.disabled': {
    description:
      'A webhook endpoint was disabled by its deliveries (a 410 answer, or failing for too long); re-enable it to resume',
    version: 1,
    payload: z.object({
      url: z.string().describe("The endpoint's URL"),
      reason: z.string().describe('Why: `gone` (it answered 410) or `failing` (see docs/webhooks.md)'),
      last_status: z
        .number()
        .int()
        .nullable()
        .describe('The HTTP status of its last attempt, if it answered'),
      last_error: z.string().nullable().describe('What went wrong on its last attempt'),
    }),
  },
  'license.issued': {
    description:
      'A license was issued to a tenant; a newer license (higher `seq`) replaces the one it supersedes',
    version: 1,
    payload: z.object({
      license_id: z.string().describe('`lic_…`'),
      seq: z.number().int().describe("The license's sequence number for the tenant"),
      kid: z.string().describe('The license key that signed it'),
      plan: z.string().describe("The plan's key"),
      version: z.number().int().describe('The plan version'),
      edition: z.string(),
      expires_at: Instant,
      supersedes: z.string().nullable().describe('The license it replaced, if one was active'),
    }),
  },
  'license.revoked': {
    description: 'A license was revoked',
    version: 1,
    payload: z.object({
      license_id: z.string().describe('`lic_…`'),
      seq: z.number().int(),
      reason: z.string().nullable().describe("The operator's words"),
    }),
  },
  'license.checked_in': {
    description:
      'A self-hosted install checked in with a license; tells CRM or alerting which installs run, on which version',
    version: 1,
    payload: z.object({
      license_id: z.string().describe('`lic_…`, the license the install presented'),
      tenant_id: z.string(),
      install_id: z.string().describe('The install, as it names itself'),
      version: z.string().describe("The install's app version"),
      seats_in_use: z
        .number()
        .int()
        .nullable()
        .describe('Seats the install reported; null when it reported none'),
      seats_licensed: z.number().int().nullable().describe('Seats the license grants; null: unlimited'),
    }),
  },
  'usage_report.imported': {
    description:
      "A self-hosted install's offline usage report was imported: its usage now counts, and is billed, like SaaS usage",
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      install_id: z.string().describe('The install, as it names itself'),
      seq: z.number().int().describe("The report's place in the install's chain: 1, 2, 3…"),
      report_id: z.string(),
      license_id: z.string().describe('`lic_…`, the license the report carried'),
      period: z.object({ from: Instant, to: Instant }).describe('The usage it covers: `from` ≤ time < `to`'),
      events: z.number().int().describe('Events in the report'),
      accepted: z.number().int().describe('Events stored by this import'),
      duplicates: z.number().int().describe('Events whose id was already stored; not counted again'),
    }),
  },
  'support_bundle.uploaded': {
    description:
      "A tenant uploaded a support bundle of its install; tells the vendor's support desk there is one to read",
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      bundle_id: z.string().describe('`spb_…`'),
      size_bytes: z.number().int().describe("The archive's size"),
      sha256: z.string().describe("SHA-256 (hex) of the archive's bytes"),
      description: z.string().nullable().describe("The uploader's words about it; null when none"),
    }),
  },
  'member.invited': {
    description: 'A user was invited to a tenant; send the invitation mail from here if Tenantry does not',
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      invitation_id: z.string().describe('`ivt_…`'),
      user_id: z.string().describe('`usr_…`, the invited user (made by email when new)'),
      email: z.string(),
      role: z.string(),
      expires_at: Instant,
    }),
  },
  'member.joined': {
    description: 'A user accepted an invitation and became a member of the tenant',
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      member_id: z.string().describe('`mem_…`'),
      user_id: z.string(),
      role: z.string(),
      invitation_id: z.string(),
    }),
  },
  'member.role_changed': {
    description: "A member's role changed; their permissions follow from the new role",
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      member_id: z.string(),
      user_id: z.string(),
      from: z.string().describe('The role before'),
      to: z.string().describe('The role now'),
    }),
  },
  'member.removed': {
    description: 'A member was removed from the tenant; their tokens for it stop working at once',
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      member_id: z.string(),
      user_id: z.string(),
      role: z.string().describe('The role they held'),
    }),
  },
  'access_policy.updated': {
    description: "A tenant's access policy changed: whether MFA is required, and its IP allow-list",
    version: 1,
    payload: z.object({
      tenant_id: z.string(),
      mfa_required: z.boolean(),
      ip_allow_list: z.array(z.string()).describe('CIDR blocks; empty: any address'),
    }),
  },
  'tenant_key.created': {
    description: "An API key was made for a tenant, for the vendor's API (its secret is never in an event)",
    version: 1,
    payload: z.object({
      name: z.string(),
      prefix: z.string().describe("The key's prefix, the vendor's"),
      last_four: z.string().describe("The key's last four characters"),
      permissions: z.array(z.string()).describe("The vendor's permissions the key carries"),
      expires_at: Instant.nullable().describe('When it stops working; null: never'),
      rolled_from: z.string().optional().describe('The key it succeeds, when a roll made it'),
    }),
  },
  'tenant_key.rolled': {
    description:
      "A tenant's API key was rolled: a successor was made, and the old key expires after the overlap",
    version: 1,
    payload: z.object({
      name: z.string(),
      rolled_to: z.string().describe('The successor (`tak_…`)'),
      expires_at: Instant.describe('When the rolled key stops working'),
    }),
  },
  'tenant_key.revoked': {
    description: "A tenant's API key was revoked",
    version: 1,
    payload: z.object({ name: z.string() }),
  },
  'user.signed_up': {
    description:
      'A person signed up on the hosted pages; the email is verified later (`user.email_verified`)',
    version: 1,
    payload: z.object({ user_id: z.string().describe('`usr_…`'), email: z.string() }),
  },
  'user.email_verified': {
    description: 'A user proved it holds its email address by following the link mailed to it',
    version: 1,
    payload: z.object({ user_id: z.string(), email: z.string() }),
  },
  'user.signed_in': {
    description: 'A user signed in on the hosted pages',
    version: 1,
    payload: z.object({
      user_id: z.string(),
      session_id: z.string().describe('`ses_…`'),
      mfa: z.boolean().describe('Whether the user answered a second factor'),
    }),
  },
  'user.sign_in_failed': {
    description: 'A sign-in was refused; `user_id` is null when no user has the email given',
    version: 1,
    payload: z.object({
      user_id: z.string().nullable(),
      reason: z
        .enum(['invalid_credentials', 'email_not_verified', 'rate_limited'])
        .describe(
          '`invalid_credentials`: unknown email or wrong password (not told apart); `rate_limited`: too many failed attempts for the email or the address, the password not checked',
        ),
    }),
  },
  'user.password_reset': {
    description: "A user set a new password through a reset link; all of the user's sessions were ended",
    version: 1,
    payload: z.object({ user_id: z.string(), sessions_ended: z.number().int() }),
  },
  'user.mfa_enrolled': {
    description: 'A user turned on TOTP MFA',
    version: 1,
    payload: z.object({ user_id: z.string() }),
  },
  'user.mfa_failed': {
    description: 'A second-factor code was refused; many in a row suggest someone guessing',
    version: 1,
    payload: z.object({
      user_id: z.string(),
      during: z.enum(['sign_in', 'enrol', 'disable', 'recovery_codes']).describe('What the code was for'),
      rate_limited: z.boolean().describe('Whether the attempt limit refused it before it was checked'),
    }),
  },
  'user.mfa_disabled': {
    description: 'A user turned MFA off',
    version: 1,
    payload: z.object({ user_id: z.string() }),
  },
  'user.recovery_code_used': {
    description: 'A user signed in with a recovery code instead of its authenticator',
    version: 1,
    payload: z.object({ user_id: z.string(), remaining: z.number().int().describe('Unused codes left') }),
  },
  'user.recovery_codes_regenerated': {
    description: "A user's recovery codes were replaced by new ones",
    version: 1,
    payload: z.object({ user_id: z.string() }),
  },
  'session.ended': {
    description: 'A sign-in session ended',
    version: 1,
    payload: z.object({
      session_id: z.string(),
      user_id: z.string(),
      reason: z.enum(['signed_out', 'signed_out_everywhere', 'ended_by_user', 'password_reset', 'ended']),
    }),
  },
  'migration_run.created': {
    description: "A run of the vendor's app migrations was started (docs/app-migrations.md)",
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      target_version: z.number().int().describe('The version every target is brought to'),
      dry_run: z.boolean().describe('Whether the run rehearses only (every transaction rolled back)'),
      canary: z.string().nullable().describe('The canary spec (`10%` or tenant ids), null for none'),
      targets: z.number().int().describe('How many targets the run has'),
    }),
  },
  'migration_run.target_finished': {
    description:
      "A migration run's target reached its final stage: `verified`, `applied`, `dry_run`, `failed` or `skipped`",
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      target: z.string().describe('The tenant id, or `pool` for the pool schema'),
      stage: z.enum(['applied', 'verified', 'dry_run', 'failed', 'skipped']),
      version_before: z.number().int().nullable(),
      version_after: z.number().int().nullable(),
      error_code: z.string().nullable().describe('Why it failed or was skipped, as a code'),
    }),
  },
  'migration_run.finished': {
    description: 'A migration run ended: every target finished',
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      state: z.enum(['succeeded', 'failed']).describe('`failed` when any target failed or was skipped'),
      counts: z.record(z.string(), z.number().int()).describe('Targets per final stage'),
    }),
  },
  'migration_run.paused': {
    description: 'A migration run was paused: no further target starts until it is resumed',
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      counts: z.record(z.string(), z.number().int()).describe('Targets per stage when it was paused'),
    }),
  },
  'migration_run.resumed': {
    description: 'A paused migration run was resumed',
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      counts: z.record(z.string(), z.number().int()).describe('Targets per stage when it was resumed'),
    }),
  },
  'migration_run.target_retried': {
    description:
      "A failed target of a migration run was set pending again, for the run's coordinator to run it again",
    version: 1,
    payload: z.object({
      run_id: z.string().describe('`mgr_…`'),
      target: z.string().describe('The tenant id, or `pool` for the pool schema'),
      error_code: z.string().nullable().describe('Why it had failed, as a code'),
    }),
  },
  'data_plane.registered': {
    description: 'A vendor data plane was registered: tenants may be placed on it',
    version: 1,
    payload: DataPlaneRef,
  },
  'data_plane.updated': {
    description: "A data plane's name, region, capacity or connection changed",
    version: 1,
    payload: DataPlaneRef,
  },
  'data_plane.retired': {
    description: 'A data plane was retired: no tenant may be placed on it again',
    version: 1,
    payload: DataPlaneRef,
  },
  'data_plane.health_changed': {
    description: "A data plane's health changed: alert on `unhealthy`, its tenants' data cannot be reached",
    version: 1,
    payload: DataPlaneRef.extend({
      from: DataPlaneHealth.describe('Its health before'),
      to: DataPlaneHealth.describe('Its health now'),
      detail: z.string().nullable().describe('What the check found, when it failed'),
    }),
  },
  'data_connection.set': {
    description: "A BYOI tenant's data connection was validated and stored: provisioning resumes",
    version: 1,
    payload: DataPlaneRef,
  },
  'data_connection.removed': {
    description: "A BYOI tenant's data connection was forgotten (its database is left as it is)",
    version: 1,
    payload: DataPlaneRef,
  },
  'agent.enrolled': {
    description: 'An agent enrolled for a tenant: provisioning that waited for it goes on',
    version: 1,
    payload: z.object({ agent_id: z.string().describe('`agt_…`'), data_plane_id: z.string() }),
  },
  'agent.revoked': {
    description: 'An agent was revoked and disconnected',
    version: 1,
    payload: z.object({ agent_id: z.string().describe('`agt_…`') }),
  },
  'agent_job.finished': {
    description:
      "An agent's job ended; its output (metadata only) is read with GET /v1/agents/{id}/jobs/{job}",
    version: 1,
    payload: z.object({
      agent_id: z.string(),
      job_id: z.string().describe('`agj_…`'),
      job_type: z.string(),
      state: z.enum(['succeeded', 'failed', 'refused']),
    }),
  },
  'dataset.received': {
    description:
      "A customer's agent pushed a dataset the customer enabled; its content is read with GET /v1/tenants/{id}/datasets/{name}/latest",
    version: 1,
    payload: z.object({
      agent_id: z.string(),
      dataset: z.string(),
      seq: z.number().int(),
      sha256: z.string(),
      bytes: z.number().int(),
      fields: z.array(z.string()),
    }),
  },
} as const satisfies Record<string, EventTypeSpec>;

/** One event type of {@link EVENT_TYPES}. */
export type EventType = keyof typeof EVENT_TYPES;

/** The payload of an event of type `T`, as a caller writes it. */
export type EventData<T extends EventType> = z.input<(typeof EVENT_TYPES)[T]['payload']>;

/** An event of one of the types `T`, with its payload. */
export type RaisedEvent<T extends EventType = EventType> = {
  [K in T]: { readonly type: K; readonly data: EventData<K> };
}[T];

/** Whether `value` is an event type of the registry, for input that has not been validated. */
export function isEventType(value: string): value is EventType {
  return Object.hasOwn(EVENT_TYPES, value);
}
