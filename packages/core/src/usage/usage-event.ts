import { z } from 'zod';
import { InstantInput } from '../instant.ts';

/** How far ahead of the receiver's clock an event's time may be, for clocks that drift. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000;

/** The most events one request to `POST /v1/events` may carry. */
export const MAX_USAGE_BATCH = 10_000;

/** The longest event id and subject accepted; ids are idempotency keys, not documents. */
const MAX_ID = 200;

/**
 * A usage event as a client sends it. `id` makes it idempotent: the same `(tenant, id)` is
 * counted once however often it is sent. `tenant` is a tenant id (`ten_…`) or slug. `value` may
 * be left out for `count` meters (it is 1).
 */
export const UsageEventInput = z.strictObject({
  id: z.string().min(1).max(MAX_ID),
  tenant: z.string().min(1).max(100),
  meter: z.string().min(1).max(63),
  value: z.number().finite().min(0).optional(),
  time: InstantInput,
  subject: z.string().min(1).max(MAX_ID).optional(),
  properties: z.record(z.string(), z.unknown()).optional(),
});

/** A usage event as a client sends it; see {@link UsageEventInput}. */
export type UsageEventInput = z.infer<typeof UsageEventInput>;

/**
 * A CloudEvents 1.0 event carrying usage: `type` is the meter, `source` the tenant (id or slug),
 * `data.value` the value and the rest of `data` its properties.
 */
export const CloudUsageEvent = z.object({
  specversion: z.literal('1.0'),
  id: z.string().min(1).max(MAX_ID),
  source: z.string().min(1).max(100),
  type: z.string().min(1).max(63),
  time: InstantInput,
  subject: z.string().min(1).max(MAX_ID).optional(),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** Turns a validated CloudEvent into Tenantry's event shape, for the same validation after. */
export function fromCloudEvent(event: z.infer<typeof CloudUsageEvent>): Record<string, unknown> {
  const { value, ...properties } = event.data ?? {};
  return {
    id: event.id,
    tenant: event.source,
    meter: event.type,
    time: event.time,
    ...(value !== undefined ? { value } : {}),
    ...(event.subject !== undefined ? { subject: event.subject } : {}),
    ...(Object.keys(properties).length > 0 ? { properties } : {}),
  };
}

/** Why an event of a batch was refused, by its index in the batch. */
export interface RejectedEvent {
  readonly index: number;
  readonly id: string | null;
  readonly reason: string;
}

/**
 * Checks an event's time against the receiver's clock: not more than {@link MAX_CLOCK_SKEW_MS}
 * ahead, and not before the start of the late window. Returns the reason when it is out of range.
 */
export function timeOutOfRange(time: Date, now: Date, lateWindowMs: number): string | null {
  if (time.getTime() > now.getTime() + MAX_CLOCK_SKEW_MS) {
    return `time ${time.toISOString()} is more than 5 minutes ahead of the server's clock`;
  }
  const earliest = now.getTime() - lateWindowMs;
  if (time.getTime() < earliest) {
    return `time ${time.toISOString()} is before the late window, which opens at ${new Date(earliest).toISOString()}`;
  }
  return null;
}

/** The start of the UTC hour that contains `time`: the rollup bucket an event lands in. */
export function hourOf(time: Date): Date {
  return new Date(Math.floor(time.getTime() / 3_600_000) * 3_600_000);
}
