/**
 * Billing: subscriptions, trials, invoices, dunning, payment methods and the Stripe integration.
 * This file is the feature's public surface: code outside the folder imports from here only.
 * It may import: @tenantry/core, changes/, db/, http/, jobs/, shared modules, tenants/.
 */
export { timeWeightedUnit, unitConversion } from './billing-usage.ts';
export { moneyOf } from './decimal-text.ts';
export { Dunning } from './dunning.ts';
export { dunningRoutes } from './dunning-routes.ts';
export { Invoice as InvoiceSchema, invoiceRoutes } from './invoice-routes.ts';
export { draftInvoiceAt, InvoiceService } from './invoice-service.ts';
export type { InvoiceView } from './invoice-view.ts';
export { paymentMethodRoutes } from './payment-method-routes.ts';
export { PaymentMethodService } from './payment-method-service.ts';
export { type ProrationLineView, type ProrationView, prorationOf } from './plan-change-preview.ts';
export { type PlanChangeRequest, planChangeTiming } from './plan-change-timing.ts';
export { createStripeBilling, invoiceSide, type StripeBilling } from './stripe-billing.ts';
export type { StripeSettings } from './stripe-client.ts';
export { stripeCustomerRoutes, stripeWebhookRoutes } from './stripe-routes.ts';
export type { FinalizedInvoices } from './stripe-sync.ts';
export type { InvoiceSettlement } from './stripe-webhooks.ts';
export { changeSubscription, followTenantState, startSubscription } from './subscription-changes.ts';
export { Trials } from './trials.ts';
