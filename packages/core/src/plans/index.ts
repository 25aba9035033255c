/**
 * The plan file: its schema, parsing, plan definitions and per-tenant overrides.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: money/, rate-limits/, shared modules.
 */
export { AGGREGATIONS, type Aggregation } from './aggregations.ts';
export { CONFIG_TYPES, type ConfigType, configTypeOf, matchesConfigType } from './config-type.ts';
export { type LimitKind, limitKind } from './limit-kind.ts';
export { DEFAULT_METER_CATEGORY, METER_CATEGORIES, type MeterCategory } from './meter-categories.ts';
export {
  applyOverrides,
  type LimitOverride,
  parseOverrides,
  type TenantOverrides,
  TenantOverridesSchema,
} from './overrides.ts';
export { type PlanFileIssue, parsePlanFile } from './parse-plan-file.ts';
export type {
  BillingInterval,
  ConfigValue,
  Enforcement,
  FlatPriceDefinition,
  LimitDefinition,
  MeterDefinition,
  MinimumPriceDefinition,
  PerSeatPriceDefinition,
  PlanDefinition,
  PriceDefinition,
  TierDefinition,
  TiersMode,
  UsagePriceDefinition,
} from './plan-definition.ts';
export {
  ConfigValueSchema,
  DEFAULT_GRACE_PERIOD_DAYS,
  DEFAULT_PAYMENT_RETRY_DAYS,
  DEFAULT_THRESHOLDS,
  KEY_PATTERN,
  MAX_TRIAL_DAYS,
  type PlanFile,
  PlanFileSchema,
  PlanFileStructureSchema,
  SEATS,
  ThresholdsSchema,
} from './plan-file-schema.ts';
export { priceKey } from './price-key.ts';
export { resolvePlans } from './resolve-plans.ts';
