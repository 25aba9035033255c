import { randomUUID } from 'node:crypto';
import { UsageEventInput } from '@tenantry/core';
import { tenantOrUndefined } from '../context/index.ts';

/**
 * One use of a meter, as the app records it. Only `meter` is always needed: `tenant` defaults to
 * the tenant of the current request (the tenant context), `id` to a random UUID, `time` to now,
 * and `value` may be left out for `count` and `unique_count` meters.
 */
export interface UsageRecord {
  /** The tenant's id (`ten_…`) or slug; default: the tenant context's. */
  readonly tenant?: string;
  /** The meter's key, as declared in the plan file. */
  readonly meter: string;
  /** A finite number ≥ 0. */
  readonly value?: number;
  /**
   * Makes the record idempotent: `(tenant, id)` is counted once however often it is sent. Give
   * one derived from what happened (e.g. `meeting-8812`) to make repeated calls safe too.
   */
  readonly id?: string;
  /** Who used it (a user), for `group_by=subject` and `unique_count`. */
  readonly subject?: string;
  /** When it happened; default: now. */
  readonly time?: Date | string;
  /** Kept with the event; must survive `JSON.stringify`. */
  readonly properties?: Readonly<Record<string, unknown>>;
}

/** An event in the shape `POST /v1/events` takes. */
export interface UsageEvent {
  /** The record's id, given or generated. */
  readonly id: string;
  /** Tenant id or slug. */
  readonly tenant: string;
  /** Meter key. */
  readonly meter: string;
  /** Absent when the record gave none (count and unique_count meters). */
  readonly value?: number;
  /** ISO 8601 with an offset. */
  readonly time: string;
  /** Who used it. */
  readonly subject?: string;
  /** Kept with the event. */
  readonly properties?: Readonly<Record<string, unknown>>;
}

/** A record that the control plane would refuse; `field` names the part that is wrong. */
export class InvalidUsageRecordError extends Error {
  /** The field's path, e.g. `value` or `properties`; `(record)` for the record as a whole. */
  readonly field: string;

  constructor(field: string, problem: string) {
    super(`usage record: ${field}: ${problem}`);
    this.name = 'InvalidUsageRecordError';
    this.field = field;
  }
}

const FIELDS = new Set(['tenant', 'meter', 'value', 'id', 'subject', 'time', 'properties']);

/**
 * Turns a record into the event sent to the control plane, as one line of JSON (what is buffered,
 * spooled and sent: a snapshot the caller can no longer change). Checks it with the control
 * plane's own schema, so what fails here would have been rejected there; what needs the control
 * plane's data (unknown tenant or meter, a time outside its window) is left to it.
 *
 * @throws InvalidUsageRecordError naming the first wrong field.
 */
export function usageEventLine(
  record: UsageRecord,
  now: () => Date,
): { id: string; event: UsageEvent; line: string } {
  if (typeof record !== 'object' || record === null || Array.isArray(record))
    throw new InvalidUsageRecordError('(record)', 'must be an object');
  for (const key of Object.keys(record)) {
    // A misspelt optional field would otherwise be dropped without a word.
    if (!FIELDS.has(key)) throw new InvalidUsageRecordError(key, 'is not a field of a usage record');
  }
  const tenant = record.tenant ?? tenantOrUndefined()?.tenantId;
  if (tenant === undefined)
    throw new InvalidUsageRecordError('tenant', 'is required outside a tenant context (runAsTenant)');
  let time: unknown = record.time;
  if (time === undefined) time = now().toISOString();
  else if (time instanceof Date) {
    if (Number.isNaN(time.getTime())) throw new InvalidUsageRecordError('time', 'is an invalid Date');
    time = time.toISOString();
  }
  const event: Record<string, unknown> = { id: record.id ?? randomUUID(), tenant, meter: record.meter, time };
  if (record.value !== undefined) event.value = record.value;
  if (record.subject !== undefined) event.subject = record.subject;
  if (record.properties !== undefined) event.properties = record.properties;
  const checked = UsageEventInput.safeParse(event);
  if (!checked.success) {
    const issue = checked.error.issues[0];
    const field = issue?.path.map(String).join('.') || '(record)';
    throw new InvalidUsageRecordError(field, issue?.message ?? 'is not valid');
  }
  let line: string;
  try {
    line = JSON.stringify(event);
  } catch (error) {
    // BigInts and cycles would otherwise break the whole batch at send time.
    throw new InvalidUsageRecordError(
      'properties',
      `cannot be sent as JSON (${error instanceof Error ? error.message : String(error)})`,
    );
  }
  return { id: event.id as string, event: event as unknown as UsageEvent, line };
}

/**
 * `units` of `meter` spent through `consume()`, as usage records: one per whole unit, the last
 * carrying a fraction, so that a `count` meter (counting events) and a `sum` meter (adding
 * values) both add up to `units`.
 */
export function unitRecords(tenant: string, meter: string, units: number): UsageRecord[] {
  const whole = Math.floor(units);
  const records: UsageRecord[] = [];
  for (let i = 0; i < whole; i++) records.push({ tenant, meter, value: 1 });
  if (units > whole) records.push({ tenant, meter, value: units - whole });
  return records;
}
