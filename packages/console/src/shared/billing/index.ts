/** What the operator console's tenant billing view and the portal's billing page share. */
export { InvoiceLines, Invoices } from './invoices.tsx';
export { PlanChange, type PlanChoice } from './plan-change.tsx';
