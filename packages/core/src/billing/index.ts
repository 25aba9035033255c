/**
 * Pure billing arithmetic: billing periods, decimal amounts and the rating of usage and prices into invoice lines.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: money/, plans/, shared modules.
 */
export { billingPeriod, type Period } from './billing-period.ts';
export { type Decimal, formatDecimal, parseDecimal } from './decimal.ts';
export { formatMinorUnits } from './format-minor-units.ts';
export { ratePeriod } from './rate-period.ts';
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
} from './rating.ts';
export { roundHalfEven } from './round-half-even.ts';
