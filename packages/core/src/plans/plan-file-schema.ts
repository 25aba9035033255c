import { z } from 'zod';
import { CurrencyCode, DecimalAmount } from '../money/index.ts';
import { RateLimitSchema } from '../rate-limits/index.ts';
import { describeValue, KEY_RULE } from '../validation-issue.ts';
import { AGGREGATIONS } from './aggregations.ts';
import { CONFIG_TYPES, configTypePhrase, matchesConfigType } from './config-type.ts';
import { METER_CATEGORIES } from './meter-categories.ts';
import { planFileReferenceIssues } from './plan-file-references.ts';

/** The rule for every key of a plan file (meters, features, config, plans, price keys). */
export const KEY_PATTERN = /^[a-z][a-z0-9_]{0,62}$/;

/** Notification thresholds when a limit sets none: warn at 80 %, and again when the limit is reached. */
export const DEFAULT_THRESHOLDS: readonly number[] = [80, 100];

/** The name of the built-in seat limit; no meter may take it. */
export const SEATS = 'seats';

const Key = z.string().regex(KEY_PATTERN, { error: KEY_RULE });

const Text = z.string().min(1);

/** Usage percentages at which a tenant is notified: 1–1000, strictly ascending. */
export const ThresholdsSchema = z.array(z.int().min(1).max(1000)).superRefine((thresholds, ctx) => {
  for (let i = 1; i < thresholds.length; i++) {
    const previous = thresholds[i - 1] ?? 0;
    const current = thresholds[i] ?? 0;
    if (current <= previous) {
      ctx.addIssue({
        code: 'custom',
        path: [i],
        input: current,
        message: `thresholds must be strictly ascending, but ${current} follows ${previous}`,
      });
    }
  }
});

/** Days from a failed payment to the suspension of a tenant that has not paid, when a plan sets none. */
export const DEFAULT_GRACE_PERIOD_DAYS = 7;

/** Days after a failed payment on which the payment is retried, when a plan sets none. */
export const DEFAULT_PAYMENT_RETRY_DAYS: readonly number[] = [1, 3, 5];

/** The furthest a grace period or a payment retry may lie after the failed payment. */
export const MAX_DUNNING_DAYS = 365;

/** The longest trial, in a plan file or when a tenant is created: two years. */
export const MAX_TRIAL_DAYS = 730;

/** Days after a failed payment to retry it: 1–365, strictly ascending, at most 20 of them. */
const PaymentRetryDaysSchema = z
  .array(z.int().min(1).max(MAX_DUNNING_DAYS))
  .max(20)
  .superRefine((days, ctx) => {
    for (let i = 1; i < days.length; i++) {
      const previous = days[i - 1] ?? 0;
      const current = days[i] ?? 0;
      if (current <= previous) {
        ctx.addIssue({
          code: 'custom',
          path: [i],
          input: current,
          message: `retry days must be strictly ascending, but ${current} follows ${previous}`,
        });
      }
    }
  });

/** A config value as written: a number, a string or a boolean. */
export const ConfigValueSchema = z.union([z.number(), z.string(), z.boolean()], {
  error: 'must be a number, a string, or true or false',
});

const UNIQUE_BY_PATTERN = /^(subject|properties\.[A-Za-z_][A-Za-z0-9_-]{0,62})$/;

const MeterSchema = z
  .strictObject({
    name: Text.optional(),
    unit: Text.optional(),
    aggregation: z.enum(AGGREGATIONS),
    category: z.enum(METER_CATEGORIES).optional(),
    unique_by: z
      .string()
      .regex(UNIQUE_BY_PATTERN, { error: 'write "subject" or "properties.<name>"' })
      .optional(),
    feature: Key.optional(),
  })
  .superRefine((meter, ctx) => {
    if (meter.unique_by !== undefined && meter.aggregation !== 'unique_count') {
      ctx.addIssue({
        code: 'custom',
        path: ['unique_by'],
        input: meter.unique_by,
        message: `unique_by applies only to meters with aggregation unique_count, and this meter uses ${meter.aggregation}`,
      });
    }
  });

// `sso:` with nothing after it is YAML for null; it means the same as `sso: {}`.
const FeatureSchema = z.preprocess(
  (value) => (value === null ? {} : value),
  z.strictObject({ name: Text.optional(), description: z.string().optional() }),
);

const ConfigDeclarationSchema = z
  .strictObject({
    type: z.enum(CONFIG_TYPES),
    default: ConfigValueSchema,
    name: Text.optional(),
    description: z.string().optional(),
  })
  .superRefine((declaration, ctx) => {
    if (!matchesConfigType(declaration.default, declaration.type)) {
      ctx.addIssue({
        code: 'custom',
        path: ['default'],
        input: declaration.default,
        message: `default must be ${configTypePhrase(declaration.type)} because type is ${declaration.type}, not ${describeValue(declaration.default)}`,
      });
    }
  });

const LimitSchema = z.strictObject({
  value: z.union([z.int().min(0), z.literal('unlimited')], {
    error: 'must be a whole number of at least 0 or "unlimited"',
  }),
  per_seat: z.boolean().default(false),
  enforcement: z.enum(['hard', 'soft']).default('hard'),
  thresholds: ThresholdsSchema.default(() => [...DEFAULT_THRESHOLDS]),
  per_subject: z.int({ error: 'must be a whole number of at least 1' }).min(1).optional(),
});

const TierSchema = z
  .strictObject({
    up_to: z.union([z.int().min(1), z.literal('inf')], {
      error: 'must be a whole number of at least 1 or "inf"',
    }),
    unit_amount: DecimalAmount.optional(),
    flat_amount: DecimalAmount.optional(),
  })
  .superRefine((tier, ctx) => {
    if (tier.unit_amount === undefined && tier.flat_amount === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: [],
        input: tier,
        message: 'a tier needs unit_amount, flat_amount or both',
      });
    }
  });

const priceFields = { key: Key.optional(), name: Text.optional() };

const FlatPriceSchema = z.strictObject({ type: z.literal('flat'), amount: DecimalAmount, ...priceFields });

const PerSeatPriceSchema = z.strictObject({
  type: z.literal('per_seat'),
  unit_amount: DecimalAmount,
  ...priceFields,
});

const UsagePriceSchema = z
  .strictObject({
    type: z.literal('usage'),
    meter: Key,
    unit_amount: DecimalAmount.optional(),
    included: z.int().min(0).optional(),
    package_size: z.int().min(1).optional(),
    tiers_mode: z.enum(['graduated', 'volume']).optional(),
    tiers: z.array(TierSchema).min(1).optional(),
    ...priceFields,
  })
  .superRefine((price, ctx) => {
    const issue = (path: (string | number)[], message: string) =>
      ctx.addIssue({ code: 'custom', path, input: price, message });
    if (price.unit_amount !== undefined && price.tiers !== undefined) {
      issue([], 'a usage price sets either unit_amount or tiers, not both');
    }
    if (price.unit_amount === undefined && price.tiers === undefined) {
      issue([], 'a usage price needs either unit_amount, or tiers with tiers_mode');
    }
    if (price.tiers !== undefined && price.tiers_mode === undefined) {
      issue(['tiers_mode'], 'tiers_mode is required with tiers: write graduated or volume');
    }
    if (price.tiers === undefined && price.tiers_mode !== undefined) {
      issue(['tiers_mode'], 'tiers_mode applies only to tiers, and this price has none');
    }
    if (price.tiers !== undefined && price.package_size !== undefined) {
      issue(['package_size'], 'package_size applies only to unit_amount, not to tiers');
    }
    const tiers = price.tiers ?? [];
    let previous: number | undefined;
    tiers.forEach((tier, index) => {
      const last = index === tiers.length - 1;
      if (tier.up_to === 'inf') {
        if (!last) issue(['tiers', index, 'up_to'], 'only the last tier may have up_to: inf');
        return;
      }
      if (last) {
        issue(
          ['tiers', index, 'up_to'],
          'the last tier must have up_to: inf, so that every quantity has a price',
        );
      }
      if (previous !== undefined && tier.up_to <= previous) {
        issue(
          ['tiers', index, 'up_to'],
          `up_to must be greater than the previous tier's (${previous}): tiers are listed in ascending order`,
        );
      }
      previous = tier.up_to;
    });
  });

const MinimumPriceSchema = z.strictObject({
  type: z.literal('minimum'),
  amount: DecimalAmount,
  ...priceFields,
});

const PriceSchema = z.discriminatedUnion('type', [
  FlatPriceSchema,
  PerSeatPriceSchema,
  UsagePriceSchema,
  MinimumPriceSchema,
]);

const PlanSchema = z.strictObject({
  name: Text,
  description: z.string().optional(),
  currency: CurrencyCode.optional(),
  interval: z.enum(['month', 'year']).default('month'),
  trial_days: z.int().min(0).max(MAX_TRIAL_DAYS).default(0),
  requires_payment_method: z.boolean().default(false),
  // Optional rather than defaulted: see PlanDefinition.grace_period_days for why.
  grace_period_days: z.int().min(0).max(MAX_DUNNING_DAYS).optional(),
  payment_retry_days: PaymentRetryDaysSchema.optional(),
  features: z
    .array(Key)
    .superRefine((features, ctx) => {
      features.forEach((feature, index) => {
        if (features.indexOf(feature) !== index) {
          ctx.addIssue({
            code: 'custom',
            path: [index],
            input: feature,
            message: `feature "${feature}" is listed more than once`,
          });
        }
      });
    })
    .default(() => []),
  limits: z.record(Key, LimitSchema).default(() => ({})),
  config: z.record(Key, ConfigValueSchema).default(() => ({})),
  prices: z.array(PriceSchema).default(() => []),
  // Optional rather than defaulted, for the reason given on PlanDefinition.rate_limits.
  rate_limits: z.record(Key, RateLimitSchema).optional(),
});

/**
 * The shape of a plan file without its cross-reference rules (declared keys, currencies of
 * amounts, unique price keys). {@link parsePlanFile} checks the shape with it and then runs the
 * cross-reference rules even when the shape is wrong, so that a vendor sees every problem at once.
 */
export const PlanFileStructureSchema = z.strictObject({
  currency: CurrencyCode.optional(),
  meters: z.record(Key, MeterSchema).default(() => ({})),
  features: z.record(Key, FeatureSchema).default(() => ({})),
  config: z.record(Key, ConfigDeclarationSchema).default(() => ({})),
  plans: z.record(Key, PlanSchema).refine((plans) => Object.keys(plans).length > 0, {
    error: 'the file must declare at least one plan under plans',
  }),
});

/**
 * A plan file, as parsed from YAML into plain data: defaults filled in, currencies lowercase,
 * amounts canonical, and every cross-reference rule checked. Prefer {@link parsePlanFile},
 * which words every problem for the vendor; this schema is for composing with other zod schemas.
 */
export const PlanFileSchema = PlanFileStructureSchema.superRefine((file, ctx) => {
  for (const issue of planFileReferenceIssues(file)) {
    ctx.addIssue({ code: 'custom', path: [...issue.path], input: file, message: issue.message });
  }
});

/** A valid plan file: the output of {@link PlanFileSchema}. */
export type PlanFile = z.output<typeof PlanFileSchema>;
