import { type Currency, normaliseCurrency } from '@tenantry/core';
import type { Schemas } from '@tenantry/core/api';

// What the admin pages read from their URLs and forms, apart from the pages: pure, so tested alone.

type Invoice = Schemas['Invoice'];
type InvoiceObject = Invoice['object'];
type ListedStatus = 'open' | 'paid' | 'void' | 'uncollectible' | 'issued';

/** The statuses the list filters on (a draft is never listed). */
export const STATUSES = [
  'open',
  'paid',
  'uncollectible',
  'void',
  'issued',
] as const satisfies readonly ListedStatus[];
export const OBJECTS = ['invoice', 'credit_note'] as const satisfies readonly InvoiceObject[];

/** The invoice list's filters, as the URL keeps them. */
export interface InvoiceSearch {
  readonly status?: ListedStatus | undefined;
  readonly tenant?: string | undefined;
  readonly object?: InvoiceObject | undefined;
  /** The month the billing period starts in, `YYYY-MM`. */
  readonly period?: string | undefined;
}

const MONTH = /^\d{4}-(0[1-9]|1[0-2])$/;

/** The invoice list's search params, checked: a value the API would refuse is dropped. */
export function parseInvoiceSearch(raw: Record<string, unknown>): InvoiceSearch {
  const tenant = typeof raw.tenant === 'string' ? raw.tenant.trim().slice(0, 100) : '';
  return {
    status: STATUSES.find((s) => s === raw.status),
    tenant: tenant === '' ? undefined : tenant,
    object: OBJECTS.find((o) => o === raw.object),
    period: typeof raw.period === 'string' && MONTH.test(raw.period) ? raw.period : undefined,
  };
}

/** The audit log's filters, as the URL keeps them; `since`/`until` are dates (UTC days). */
export interface AuditSearch {
  readonly chain?: string | undefined;
  readonly action?: string | undefined;
  readonly actor_type?: string | undefined;
  readonly actor_id?: string | undefined;
  readonly target_type?: string | undefined;
  readonly target_id?: string | undefined;
  readonly since?: string | undefined;
  readonly until?: string | undefined;
}

const TEXT_FILTERS = ['chain', 'action', 'actor_type', 'actor_id', 'target_type', 'target_id'] as const;
const DAY = /^\d{4}-\d{2}-\d{2}$/;

/** The audit log's search params, checked: a day that is not one is dropped. */
export function parseAuditSearch(raw: Record<string, unknown>): AuditSearch {
  const text = (value: unknown) =>
    typeof value === 'string' && value.trim() !== '' ? value.trim().slice(0, 200) : undefined;
  const day = (value: unknown) =>
    typeof value === 'string' && DAY.test(value) && !Number.isNaN(Date.parse(value)) ? value : undefined;
  const search: Record<string, string | undefined> = {};
  for (const key of TEXT_FILTERS) search[key] = text(raw[key]);
  return { ...search, since: day(raw.since), until: day(raw.until) };
}

/**
 * The API's query of the filters: a day as the instant it starts (UTC), `until` the day after
 * the one given, so that "until 2026-12-05" includes that day (the API's range is half-open).
 */
export function auditQuery(search: AuditSearch): Omit<AuditSearch, 'since' | 'until'> & {
  since?: string;
  until?: string;
} {
  const { since, until, ...rest } = search;
  const next = (day: string) => new Date(Date.parse(day) + 86_400_000).toISOString();
  return {
    ...rest,
    ...(since === undefined ? {} : { since: new Date(Date.parse(since)).toISOString() }),
    ...(until === undefined ? {} : { until: next(until) }),
  };
}

/** The event types a form chose, without those a chosen pattern covers. */
export function chosenTypes(form: FormData): string[] {
  const values = form.getAll('event_types').map(String);
  if (values.includes('*')) return ['*'];
  const patterns = values.filter((v) => v.endsWith('.*')).map((v) => v.slice(0, -1));
  return values.filter((v) => v.endsWith('.*') || !patterns.some((prefix) => v.startsWith(prefix)));
}

type ProvisioningRun = Schemas['FleetProvisioningRun'];
export type ProvisioningRunState = ProvisioningRun['state'];

/** The provisioning run states, as the API filters on them. */
export const PROVISIONING_STATES = [
  'running',
  'waiting',
  'failed',
  'succeeded',
] as const satisfies readonly ProvisioningRunState[];

export function isProvisioningRunState(value: unknown): value is ProvisioningRunState {
  return (PROVISIONING_STATES as readonly unknown[]).includes(value);
}

/** The fleet showback's choices, as the URL keeps them: the month (the API's default when none) and the currency. */
export interface ShowbackSearch {
  readonly period?: string | undefined;
  readonly currency?: Currency | undefined;
}

/** The fleet showback's search params, checked: a month or currency the API would refuse is dropped. */
export function parseShowbackSearch(raw: Record<string, unknown>): ShowbackSearch {
  return {
    period: typeof raw.period === 'string' && MONTH.test(raw.period) ? raw.period : undefined,
    currency: typeof raw.currency === 'string' ? (normaliseCurrency(raw.currency) ?? undefined) : undefined,
  };
}
