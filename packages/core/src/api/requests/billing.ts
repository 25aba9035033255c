import { z } from 'zod';

/** No control characters: the values end up in audit rows and on invoices. */
const PRINTABLE = /^[^\p{Cc}]*$/u;

/** `POST /v1/tenants/{id}/payment-method`: a payment method to put on file. */
export const PaymentMethodInput = z.strictObject({
  reference: z
    .string()
    .trim()
    .min(1)
    .max(255)
    .regex(PRINTABLE, 'must not hold control characters')
    .describe("The payment provider's id of the method (Stripe's `pm_…`) or your own reference"),
  brand: z
    .string()
    .trim()
    .min(1)
    .max(50)
    .regex(PRINTABLE, 'must not hold control characters')
    .optional()
    .describe('E.g. `visa`, `sepa_debit`, `invoice`'),
  last4: z
    .string()
    .regex(/^[0-9]{4}$/, 'must be the last four digits of the card or account')
    .optional(),
});
