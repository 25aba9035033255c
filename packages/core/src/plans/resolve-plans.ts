import { type RateLimitDefinition, resolveRateLimit } from '../rate-limits/index.ts';
import { limitKind } from './limit-kind.ts';
import type {
  ConfigValue,
  LimitDefinition,
  MeterDefinition,
  PlanDefinition,
  PriceDefinition,
  TierDefinition,
} from './plan-definition.ts';
import type { PlanFile } from './plan-file-schema.ts';
import { SEATS } from './plan-file-schema.ts';
import { priceKey } from './price-key.ts';

type FilePlan = PlanFile['plans'][string];
type FilePrice = FilePlan['prices'][number];

/**
 * One canonical, self-contained definition per plan of a valid file, in file order. Each
 * definition repeats the file's declarations (every feature, config key and meter) so that a
 * stored plan version means the same thing forever, whatever later files declare; hashing its
 * {@link canonicalJson} tells whether a plan changed between two files. Expects a file that
 * passed {@link parsePlanFile}; throws a `TypeError` for a plan without any currency.
 */
export function resolvePlans(file: PlanFile): PlanDefinition[] {
  const meters: Record<string, MeterDefinition> = {};
  for (const [key, meter] of Object.entries(file.meters)) {
    meters[key] = {
      name: meter.name ?? key,
      unit: meter.unit ?? null,
      aggregation: meter.aggregation,
      ...(meter.category === undefined ? {} : { category: meter.category }),
      unique_by: meter.aggregation === 'unique_count' ? (meter.unique_by ?? 'subject') : null,
      ...(meter.feature === undefined ? {} : { feature: meter.feature }),
    };
  }
  return Object.entries(file.plans).map(([key, plan]) => {
    const features: Record<string, boolean> = {};
    for (const feature of Object.keys(file.features)) features[feature] = plan.features.includes(feature);

    const limits: Record<string, LimitDefinition> = {};
    for (const [limitKey, limit] of Object.entries(plan.limits)) {
      const meter = Object.hasOwn(meters, limitKey) ? meters[limitKey] : undefined;
      limits[limitKey] = {
        value: limit.value === 'unlimited' ? null : limit.value,
        per_seat: limitKey === SEATS ? false : limit.per_seat,
        enforcement: limit.enforcement,
        thresholds: [...limit.thresholds],
        kind: limitKey === SEATS || meter === undefined ? 'seats' : limitKind(meter.aggregation),
        ...(limit.per_subject === undefined ? {} : { per_subject: limit.per_subject }),
      };
    }

    const config: Record<string, ConfigValue> = {};
    for (const [configKey, declaration] of Object.entries(file.config)) {
      const value = Object.hasOwn(plan.config, configKey) ? plan.config[configKey] : undefined;
      config[configKey] = value ?? declaration.default;
    }

    const rateLimits: Record<string, RateLimitDefinition> = {};
    for (const [name, limit] of Object.entries(plan.rate_limits ?? {}))
      rateLimits[name] = resolveRateLimit(limit);

    const currency = plan.currency ?? file.currency;
    if (currency === undefined)
      throw new TypeError(`resolvePlans: plan "${key}" has no currency; parse the file first`);
    return {
      key,
      name: plan.name,
      description: plan.description ?? null,
      currency,
      interval: plan.interval,
      trial_days: plan.trial_days,
      requires_payment_method: plan.requires_payment_method,
      ...(plan.grace_period_days === undefined ? {} : { grace_period_days: plan.grace_period_days }),
      ...(plan.payment_retry_days === undefined ? {} : { payment_retry_days: [...plan.payment_retry_days] }),
      features,
      limits,
      config,
      prices: plan.prices.map(resolvePrice),
      ...(Object.keys(rateLimits).length === 0 ? {} : { rate_limits: rateLimits }),
      meters: copyMeters(meters),
    };
  });
}

function resolvePrice(price: FilePrice): PriceDefinition {
  const key = priceKey(price) ?? price.type;
  const name = price.name ?? null;
  switch (price.type) {
    case 'flat':
      return { type: 'flat', key, name, amount: price.amount };
    case 'per_seat':
      return { type: 'per_seat', key, name, unit_amount: price.unit_amount };
    case 'minimum':
      return { type: 'minimum', key, name, amount: price.amount };
    case 'usage': {
      const tiers: TierDefinition[] | null =
        price.tiers?.map((tier) => ({
          up_to: tier.up_to === 'inf' ? null : tier.up_to,
          unit_amount: tier.unit_amount ?? '0',
          flat_amount: tier.flat_amount ?? '0',
        })) ?? null;
      const unitAmount = tiers === null ? (price.unit_amount ?? null) : null;
      return {
        type: 'usage',
        key,
        name,
        meter: price.meter,
        included: price.included ?? 0,
        unit_amount: unitAmount,
        package_size: unitAmount === null ? null : (price.package_size ?? 1),
        tiers_mode: tiers === null ? null : (price.tiers_mode ?? 'graduated'),
        tiers,
      };
    }
  }
}

// Each definition gets its own meter objects, so that mutating one stored definition can never
// change another.
function copyMeters(meters: Record<string, MeterDefinition>): Record<string, MeterDefinition> {
  const copy: Record<string, MeterDefinition> = {};
  for (const [key, meter] of Object.entries(meters)) copy[key] = { ...meter };
  return copy;
}
