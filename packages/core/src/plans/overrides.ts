import { z } from 'zod';
import { type DomainError, fail } from '../errors.ts';
import {
  copyRateLimits,
  overrideRateLimit,
  type RateLimitDefinition,
  type RateLimitOverride,
  RateLimitOverrideSchema,
} from '../rate-limits/index.ts';
import { ok, type Result } from '../result.ts';
import {
  describeValue,
  fromZodIssues,
  KEY_RULE,
  toFieldErrors,
  type ValidationIssue,
} from '../validation-issue.ts';
import { configTypeOf, configTypePhrase } from './config-type.ts';
import { limitKind } from './limit-kind.ts';
import type { ConfigValue, Enforcement, LimitDefinition, PlanDefinition } from './plan-definition.ts';
import {
  ConfigValueSchema,
  DEFAULT_THRESHOLDS,
  KEY_PATTERN,
  SEATS,
  ThresholdsSchema,
} from './plan-file-schema.ts';

/** Changes to one limit for one tenant; absent fields keep the plan's. */
export interface LimitOverride {
  /** The limit, or `null` for unlimited. */
  value?: number | null;
  per_seat?: boolean;
  enforcement?: Enforcement;
  thresholds?: number[];
}

/**
 * A custom deal for one tenant, layered over its plan version: features switched on or off,
 * limits raised, lowered or added, config values changed. Stored with the tenant, so it survives
 * moves between plan versions (keys the new version no longer declares are then ignored).
 */
export interface TenantOverrides {
  features?: Record<string, boolean>;
  limits?: Record<string, LimitOverride>;
  config?: Record<string, ConfigValue>;
  /** Rate limits changed or added, by name (`per` in seconds). */
  rate_limits?: Record<string, RateLimitOverride>;
}

const LimitOverrideSchema = z.strictObject({
  // JSON has no "unlimited" keyword of its own, so both null and the plan-file spelling mean unlimited.
  value: z
    .union([z.int().min(0), z.null(), z.literal('unlimited')], {
      error: 'must be a whole number of at least 0, or null or "unlimited" for no limit',
    })
    .transform((value) => (value === 'unlimited' ? null : value))
    .optional(),
  per_seat: z.boolean().optional(),
  enforcement: z.enum(['hard', 'soft']).optional(),
  thresholds: ThresholdsSchema.optional(),
});

/** The shape of {@link TenantOverrides}, without the rules that depend on the plan. */
export const TenantOverridesSchema = z.strictObject({
  features: z.record(z.string(), z.boolean()).optional(),
  limits: z.record(z.string(), LimitOverrideSchema).optional(),
  config: z.record(z.string(), ConfigValueSchema).optional(),
  rate_limits: z
    .record(z.string().regex(KEY_PATTERN, { error: KEY_RULE }), RateLimitOverrideSchema)
    .optional(),
});

/**
 * Validates overrides for a tenant on `plan`: the shape, and that every key names something the
 * plan has — a declared feature, `seats` or a declared meter, a config key with a value of the
 * same type as the plan's. A deal may add a limit the plan lacks, and must then give its value.
 * Fails with `validation_failed` listing every problem, with dotted paths (`limits.meetings.value`).
 */
export function parseOverrides(input: unknown, plan: PlanDefinition): Result<TenantOverrides, DomainError> {
  const parsed = TenantOverridesSchema.safeParse(input, { reportInput: true });
  if (!parsed.success) return invalid(fromZodIssues(parsed.error.issues));
  const issues: ValidationIssue[] = [];
  const overrides: TenantOverrides = {};
  const { features, limits, config, rate_limits: rateLimits } = parsed.data;

  if (features !== undefined) {
    for (const key of Object.keys(features)) {
      if (!Object.hasOwn(plan.features, key)) {
        issues.push({
          path: ['features', key],
          message: `feature "${key}" is not declared by plan "${plan.key}"`,
        });
      }
    }
    overrides.features = { ...features };
  }

  if (limits !== undefined) {
    overrides.limits = {};
    for (const [key, limit] of Object.entries(limits)) {
      if (key !== SEATS && !Object.hasOwn(plan.meters, key)) {
        issues.push({
          path: ['limits', key],
          message: `limit "${key}" is neither seats nor a meter of plan "${plan.key}"`,
        });
        continue;
      }
      if (key === SEATS && limit.per_seat === true) {
        issues.push({
          path: ['limits', key, 'per_seat'],
          message: 'per_seat is not allowed on seats: the seat limit already counts seats',
        });
      }
      if (!Object.hasOwn(plan.limits, key) && limit.value === undefined) {
        issues.push({
          path: ['limits', key, 'value'],
          message: `value is required: plan "${plan.key}" has no ${key} limit to start from`,
        });
      }
      const override: LimitOverride = {};
      if (limit.value !== undefined) override.value = limit.value;
      if (limit.per_seat !== undefined) override.per_seat = limit.per_seat;
      if (limit.enforcement !== undefined) override.enforcement = limit.enforcement;
      if (limit.thresholds !== undefined) override.thresholds = [...limit.thresholds];
      overrides.limits[key] = override;
    }
  }

  if (config !== undefined) {
    for (const [key, value] of Object.entries(config)) {
      const planValue = Object.hasOwn(plan.config, key) ? plan.config[key] : undefined;
      if (planValue === undefined) {
        issues.push({
          path: ['config', key],
          message: `config "${key}" is not declared by plan "${plan.key}"`,
        });
      } else if (!sameConfigType(value, planValue)) {
        const type = configTypeOf(planValue);
        issues.push({
          path: ['config', key],
          message: `config "${key}" must be ${configTypePhrase(type)} like the plan's value, not ${describeValue(value)}`,
        });
      }
    }
    overrides.config = { ...config };
  }

  if (rateLimits !== undefined) {
    // A deal may add a rate limit the plan lacks (any name: rate limits are not declared
    // elsewhere in the file), and must then give its rate and window.
    for (const [name, limit] of Object.entries(rateLimits)) {
      const base = plan.rate_limits !== undefined && Object.hasOwn(plan.rate_limits, name);
      if (base) continue;
      for (const [field, value] of [
        ['requests', limit.requests],
        ['per', limit.per],
      ] as const) {
        if (value === undefined) {
          issues.push({
            path: ['rate_limits', name, field],
            message: `${field} is required: plan "${plan.key}" has no rate limit "${name}" to start from`,
          });
        }
      }
    }
    overrides.rate_limits = copyRateLimits(rateLimits);
  }

  return issues.length > 0 ? invalid(issues) : ok(overrides);
}

// The resolved plan keeps values, not declarations, so the plan's value stands for the declared
// type: an integer value requires an integer, any other number accepts any number.
function sameConfigType(value: ConfigValue, planValue: ConfigValue): boolean {
  const type = configTypeOf(planValue);
  if (type === 'number') return typeof value === 'number';
  return configTypeOf(value) === type;
}

function invalid(issues: ValidationIssue[]): { readonly ok: false; readonly error: DomainError } {
  const count = issues.length === 1 ? 'one problem' : `${issues.length} problems`;
  return fail('validation_failed', `The overrides have ${count}.`, { errors: toFieldErrors(issues) });
}

/**
 * `plan` with `overrides` applied: a pure merge, field by field for limits. Keys the plan does
 * not declare are ignored rather than added, so overrides validated against one plan version stay
 * safe after the tenant moves to a version that dropped a feature, meter or config key.
 */
export function applyOverrides(plan: PlanDefinition, overrides: TenantOverrides): PlanDefinition {
  const features = { ...plan.features };
  for (const [key, enabled] of Object.entries(overrides.features ?? {})) {
    if (Object.hasOwn(features, key)) features[key] = enabled;
  }

  const limits: Record<string, LimitDefinition> = { ...plan.limits };
  for (const [key, override] of Object.entries(overrides.limits ?? {})) {
    const meter = Object.hasOwn(plan.meters, key) ? plan.meters[key] : undefined;
    if (key !== SEATS && meter === undefined) continue;
    const base = Object.hasOwn(limits, key) ? limits[key] : undefined;
    const value = override.value !== undefined ? override.value : base?.value;
    if (value === undefined) continue;
    limits[key] = {
      value,
      per_seat: key === SEATS ? false : (override.per_seat ?? base?.per_seat ?? false),
      enforcement: override.enforcement ?? base?.enforcement ?? 'hard',
      thresholds: [...(override.thresholds ?? base?.thresholds ?? DEFAULT_THRESHOLDS)],
      kind: meter === undefined ? 'seats' : limitKind(meter.aggregation),
      // A deal changes the pool; the plan's cap per subject stays.
      ...(base?.per_subject === undefined ? {} : { per_subject: base.per_subject }),
    };
  }

  const config = { ...plan.config };
  for (const [key, value] of Object.entries(overrides.config ?? {})) {
    if (Object.hasOwn(config, key)) config[key] = value;
  }

  const rateLimits: Record<string, RateLimitDefinition> = { ...plan.rate_limits };
  for (const [name, override] of Object.entries(overrides.rate_limits ?? {})) {
    const limit = overrideRateLimit(Object.hasOwn(rateLimits, name) ? rateLimits[name] : undefined, override);
    if (limit !== undefined) rateLimits[name] = limit;
  }

  return {
    ...plan,
    features,
    limits,
    config,
    ...(Object.keys(rateLimits).length === 0 ? {} : { rate_limits: rateLimits }),
  };
}
