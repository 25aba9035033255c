import type { PlanDefinition } from '@tenantry/core';

/** The parts of a plan definition a diff is grouped by, in the order shown. */
export const DIFF_SECTIONS = [
  'plan',
  'features',
  'limits',
  'prices',
  'config',
  'meters',
  'rate_limits',
] as const;
export type DiffSection = (typeof DIFF_SECTIONS)[number];

/** One field of an item that differs; `before` or `after` is undefined when the field is new or gone. */
export interface FieldChange {
  /** The field's path within the item (`value`, `tiers.1.unit_amount`), `''` for a plain value. */
  readonly field: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

/** An item of a section (a limit, a price by its key, a feature…) that was added, removed or changed. */
export interface DiffEntry {
  readonly section: DiffSection;
  readonly key: string;
  readonly change: 'added' | 'removed' | 'changed';
  /** For a change, the fields that differ; for an addition or removal, every field it has. */
  readonly fields: readonly FieldChange[];
}

/** The top-level fields of a definition that are plain settings of the plan, not collections. */
const PLAN_FIELDS = [
  'name',
  'description',
  'currency',
  'interval',
  'trial_days',
  'requires_payment_method',
  'grace_period_days',
  'payment_retry_days',
] as const;

/** A value as the diff shows it: arrays of plain values on one line, `null` by what it means there. */
function text(value: unknown, section: DiffSection, field: string): string {
  if (value === null) return section === 'limits' && field === 'value' ? 'unlimited' : 'none';
  if (Array.isArray(value)) return `[${value.map((item) => text(item, section, field)).join(', ')}]`;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * An item as field → shown value: nested objects and arrays of objects (price tiers) by dotted
 * path, arrays of plain values (thresholds) as one value, so that a changed threshold list is one
 * line rather than one per index.
 */
function flatten(value: unknown, section: DiffSection, prefix = ''): Map<string, string> {
  const out = new Map<string, string>();
  const plainArray = Array.isArray(value) && value.every((item) => typeof item !== 'object' || item === null);
  if (typeof value !== 'object' || value === null || plainArray) {
    out.set(prefix, text(value, section, prefix.split('.').at(-1) ?? ''));
    return out;
  }
  const entries = Array.isArray(value)
    ? value.map((item, i) => [String(i), item] as const)
    : Object.entries(value);
  for (const [key, item] of entries) {
    for (const [field, shown] of flatten(item, section, prefix === '' ? key : `${prefix}.${key}`)) {
      out.set(field, shown);
    }
  }
  return out;
}

function diffItem(section: DiffSection, key: string, before: unknown, after: unknown): DiffEntry | undefined {
  if (before === undefined && after === undefined) return undefined;
  const was = before === undefined ? new Map<string, string>() : flatten(before, section);
  const now = after === undefined ? new Map<string, string>() : flatten(after, section);
  const fields: FieldChange[] = [];
  for (const field of new Set([...was.keys(), ...now.keys()])) {
    const a = was.get(field);
    const b = now.get(field);
    if (a !== b) fields.push({ field, before: a, after: b });
  }
  if (before === undefined) return { section, key, change: 'added', fields };
  if (after === undefined) return { section, key, change: 'removed', fields };
  return fields.length === 0 ? undefined : { section, key, change: 'changed', fields };
}

function diffRecords(
  section: DiffSection,
  before: Readonly<Record<string, unknown>> | undefined,
  after: Readonly<Record<string, unknown>> | undefined,
): DiffEntry[] {
  const keys = new Set([...Object.keys(after ?? {}), ...Object.keys(before ?? {})]);
  return [...keys].flatMap((key) => diffItem(section, key, before?.[key], after?.[key]) ?? []);
}

/**
 * What changed from one version of a plan to another: every feature, limit, price (by its key),
 * config value, meter and rate limit added, removed or changed, and the plan's own settings
 * (trial, interval, currency…), each changed item with the fields that differ. Items in the order
 * of {@link DIFF_SECTIONS}, then as the newer version lists them (removed ones after).
 */
export function diffPlanVersions(before: PlanDefinition, after: PlanDefinition): DiffEntry[] {
  const plan = PLAN_FIELDS.flatMap((field) => diffItem('plan', field, before[field], after[field]) ?? []);
  const byKey = (prices: PlanDefinition['prices']) =>
    Object.fromEntries(prices.map((price) => [price.key, price]));
  return [
    ...plan,
    ...diffRecords('features', before.features, after.features),
    ...diffRecords('limits', before.limits, after.limits),
    ...diffRecords('prices', byKey(before.prices), byKey(after.prices)),
    ...diffRecords('config', before.config, after.config),
    ...diffRecords('meters', before.meters, after.meters),
    ...diffRecords('rate_limits', before.rate_limits, after.rate_limits),
  ];
}
