/**
 * The audit actions Tenantry writes today, for validating the `action` filter of the audit log.
 *
 * This is the seam the registry of audit actions (packages/core/src/changes, issue 12's change
 * recorder) replaces: until it lands, actions are free strings at their call sites and this list
 * is gathered from them. {@link isKnownAuditAction} is the one place that asks.
 */
const KNOWN_AUDIT_ACTIONS: ReadonlySet<string> = new Set([
  'access_token.minted',
  'api_key.created',
  'api_key.revoked',
  'api_key.rolled',
  'audit.pruned',
  'audit.read',
  'credit_note.issued',
  'dunning.resolved',
  'dunning.started',
  'invoice.finalized',
  'invoice.marked_uncollectible',
  'invoice.paid',
  'invoice.paid_in_stripe_after_void',
  'invoice.payment_failed',
  'invoice.payment_retry_requested',
  'invoice.sent_to_stripe',
  'invoice.stripe_sync_failed',
  'invoice.stripe_void_failed',
  'invoice.voided',
  'invoice.voided_in_stripe',
  'payment_method.attached',
  'payment_method.removed',
  'plan.created',
  'plan.version_created',
  'signing_key.created',
  'signing_key.resealed',
  'signing_key.rotated',
  'signing_key.sealed',
  'tenant.activated',
  'tenant.cancelled',
  'tenant.created',
  'tenant.deleted',
  'tenant.marked_past_due',
  'tenant.plan_change_scheduled',
  'tenant.plan_changed',
  'tenant.provisioned',
  'tenant.provisioning_failed',
  'tenant.provisioning_retried',
  'tenant.purged',
  'tenant.resumed',
  'tenant.stripe_customer_created',
  'tenant.suspended',
  'tenant.updated',
  'usage_event.voided',
]);

/** Whether `action` is an audit action Tenantry writes. */
export function isKnownAuditAction(action: string): boolean {
  return KNOWN_AUDIT_ACTIONS.has(action);
}
