import type { Schemas } from '@tenantry/core/api';

type AuditEntry = Schemas['AuditEntry'];
type Delivery = Schemas['WebhookDelivery'];

/**
 * Where a timeline item comes from. Threshold crossings, invoices and license check-ins are
 * recorded in the tenant's audit log by the change recorder (`usage.threshold_reached`,
 * `invoice.*`, `license.checked_in`), so they are audit entries marked by their action; webhook
 * failures are not audited (a delivery's attempts are its own record) and come from the
 * deliveries of the tenant's endpoints.
 */
export type TimelineSource = 'audit' | 'threshold' | 'invoice' | 'license' | 'webhook';

/** The sources that are audit entries. */
type AuditSource = Exclude<TimelineSource, 'webhook'>;

/** The source an audit entry stands for, by its action. */
export function sourceOfAction(action: string): AuditSource {
  if (action === 'usage.threshold_reached') return 'threshold';
  if (action.startsWith('invoice.')) return 'invoice';
  if (action === 'license.checked_in') return 'license';
  return 'audit';
}

/** One failed attempt to deliver a webhook of the tenant's. */
export interface WebhookFailure {
  readonly at: string;
  readonly endpointUrl: string;
  readonly delivery: Delivery;
  readonly status: number | null;
  readonly error: string | null;
}

/** An attempt failed when it got no answer, or one that is not 2xx. */
export function webhookFailures(endpointUrl: string, deliveries: readonly Delivery[]): WebhookFailure[] {
  return deliveries.flatMap((delivery) =>
    delivery.attempts
      .filter((attempt) => attempt.status === null || attempt.status < 200 || attempt.status > 299)
      .map((attempt) => ({
        at: attempt.at,
        endpointUrl,
        delivery,
        status: attempt.status,
        error: attempt.error,
      })),
  );
}

export type TimelineItem =
  | { readonly source: AuditSource; readonly at: string; readonly entry: AuditEntry }
  | { readonly source: 'webhook'; readonly at: string; readonly failure: WebhookFailure };

/**
 * The audit entries read so far (newest first, by pages) and the webhook failures, as one list,
 * newest first, each marked with its source. While older audit pages remain unread, a failure
 * older than the oldest entry read is held back: shown now, it would sit above entries that come
 * before it once the next page is read.
 */
export function mergeTimeline(
  audit: readonly AuditEntry[],
  auditComplete: boolean,
  failures: readonly WebhookFailure[],
): TimelineItem[] {
  const oldest = audit.at(-1);
  const floor = auditComplete || oldest === undefined ? -Infinity : Date.parse(oldest.occurred_at);
  const items: TimelineItem[] = [
    ...audit.map(
      (entry) => ({ source: sourceOfAction(entry.action), at: entry.occurred_at, entry }) as const,
    ),
    ...failures
      .filter((failure) => Date.parse(failure.at) >= floor)
      .map((failure) => ({ source: 'webhook', at: failure.at, failure }) as const),
  ];
  // A stable sort: entries at the same instant keep the order the audit log gave them.
  return items
    .map((item, index) => ({ item, index, time: Date.parse(item.at) }))
    .sort((a, b) => b.time - a.time || a.index - b.index)
    .map(({ item }) => item);
}
