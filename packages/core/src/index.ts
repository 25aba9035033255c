/**
 * Tenantry's domain logic, shared by the control plane and the SDK: plan files and definitions,
 * overrides, the tenant lifecycle, billing periods, money, entitlement evaluation, and the
 * registries of audit actions and event types. Pure: no I/O, no clock, no randomness, so the SDK
 * evaluates exactly what the server would.
 *
 * @packageDocumentation
 */

export {
  ALL_SCOPES,
  APP_KEY_SCOPES,
  isScope,
  KEY_PRESETS,
  type KeyPreset,
  SCOPES,
  type Scope,
} from './api-keys/scopes.ts';
export {
  AUDIT_CHECKPOINT_TYPE,
  AUDIT_HASH_VERSION,
  type AuditActor,
  type AuditCheckpointClaims,
  type AuditCheckpointView,
  type AuditEntryView,
  auditEntryHash,
  auditEntryPreimage,
  auditPreimageParts,
  isAuditCheckpointClaims,
  OPERATOR_CHAIN,
  type Sha256Hex,
} from './audit/audit-entry.ts';
export {
  type AuditChainReport,
  AuditChainVerifier,
  type AuditProblem,
  type AuditProblemKind,
  type AuditVerification,
  type DistrustedCheckpoint,
  verifyAuditChains,
} from './audit/verify-audit-chains.ts';
export { billingPeriod, type Period } from './billing/billing-period.ts';
export { type Decimal, formatDecimal, parseDecimal } from './billing/decimal.ts';
export { formatMinorUnits } from './billing/format-minor-units.ts';
export { ratePeriod } from './billing/rate-period.ts';
export type {
  InvoiceLine,
  InvoiceLineKind,
  IsoPeriod,
  LinePlan,
  MinimumDetail,
  Proration,
  RatedInvoice,
  RatingInput,
  SubscriptionSegment,
  TierCharge,
  UsageDetail,
} from './billing/rating.ts';
export { roundHalfEven } from './billing/round-half-even.ts';
export { canonicalJson } from './canonical-json.ts';
export {
  type AlsoOf,
  AUDIT_ACTIONS,
  type AuditAction,
  type AuditActionSpec,
  type DefaultEventOf,
  isAuditAction,
  type RaisesOf,
  TARGET_TYPES,
  type TargetOf,
  type TargetType,
} from './changes/audit-actions.ts';
export {
  EVENT_TYPES,
  type EventData,
  type EventType,
  type EventTypeSpec,
  isEventType,
  type RaisedEvent,
} from './changes/event-types.ts';
export { changedFields, redact, SECRET_FIELDS } from './changes/redaction.ts';
export {
  type TenantTransitionAction,
  type TransitionRecord,
  transitionRecord,
} from './changes/tenant-transitions.ts';
export {
  type EntitlementSnapshot,
  type LimitEntitlement,
  MAX_STREAM_TENANTS,
} from './entitlements/entitlement-snapshot.ts';
export { type EntitlementInput, evaluateEntitlements } from './entitlements/evaluate-entitlements.ts';
export { configValue, hasFeature, limitOf } from './entitlements/local-checks.ts';
export {
  admitSlot,
  type LimitScope,
  limitExhausted,
  meterUseRefusal,
  type OpenSlots,
} from './entitlements/meter-use.ts';
export { type DomainError, type ErrorCode, errorCatalog, type FieldError, fail } from './errors.ts';
export {
  CURRENCIES,
  type Currency,
  CurrencyCode,
  isCurrency,
  minorUnitDigits,
  normaliseCurrency,
} from './money/currencies.ts';
export {
  canonicalDecimal,
  DecimalAmount,
  MAX_FRACTION_DIGITS,
  toMinorUnits,
} from './money/decimal-amount.ts';
export { AGGREGATIONS, type Aggregation } from './plans/aggregations.ts';
export { CONFIG_TYPES, type ConfigType, configTypeOf, matchesConfigType } from './plans/config-type.ts';
export { type LimitKind, limitKind } from './plans/limit-kind.ts';
export { DEFAULT_METER_CATEGORY, METER_CATEGORIES, type MeterCategory } from './plans/meter-categories.ts';
export {
  applyOverrides,
  type LimitOverride,
  parseOverrides,
  type TenantOverrides,
  TenantOverridesSchema,
} from './plans/overrides.ts';
export { type PlanFileIssue, parsePlanFile } from './plans/parse-plan-file.ts';
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
} from './plans/plan-definition.ts';
export {
  DEFAULT_GRACE_PERIOD_DAYS,
  DEFAULT_PAYMENT_RETRY_DAYS,
  DEFAULT_THRESHOLDS,
  KEY_PATTERN,
  MAX_TRIAL_DAYS,
  type PlanFile,
  PlanFileSchema,
  PlanFileStructureSchema,
  SEATS,
} from './plans/plan-file-schema.ts';
export { priceKey } from './plans/price-key.ts';
export { resolvePlans } from './plans/resolve-plans.ts';
export { err, ok, type Result } from './result.ts';
export {
  ACTION_RULES,
  allowedActions,
  applyAction,
  canTransition,
  isTenantAction,
  isTenantState,
  TENANT_ACTIONS,
  TENANT_STATES,
  TENANT_TRANSITIONS,
  type TenantAction,
  type TenantState,
} from './tenants/lifecycle.ts';
export {
  CloudUsageEvent,
  fromCloudEvent,
  hourOf,
  MAX_CLOCK_SKEW_MS,
  MAX_USAGE_BATCH,
  type RejectedEvent,
  timeOutOfRange,
  UsageEventInput,
} from './usage/usage-event.ts';
export { dottedPath, toFieldErrors, type ValidationIssue } from './validation-issue.ts';
