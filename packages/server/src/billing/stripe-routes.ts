import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, ProblemSchema, replyProblem, sendProblem } from '../http/index.ts';
import type { Services } from '../services.ts';
import { StripeRequestError } from './stripe-sync.ts';
import type { StripeWebhooks } from './stripe-webhooks.ts';

const WebhookReceipt = z
  .object({
    event_id: z.string().describe("Stripe's event id (`evt_…`)"),
    type: z.string().describe('e.g. `invoice.paid`'),
    outcome: z
      .enum(['applied', 'ignored', 'duplicate'])
      .describe(
        "`applied`: it changed something; `ignored`: not Tenantry's, or a type Tenantry does not act on; " +
          '`duplicate`: this event id was processed before and nothing was done again',
      ),
    detail: z.string(),
  })
  .meta({ id: 'StripeWebhookReceipt' });

/**
 * `POST /v1/stripe/webhooks`, registered only when Stripe is configured. It sits outside the
 * operator-key scope: Stripe holds no operator key, and the signature over the raw body is the
 * authentication, so the body must reach the handler byte for byte, unparsed.
 */
export const stripeWebhookRoutes: FastifyPluginAsyncZod<{ webhooks: StripeWebhooks }> = async (
  app,
  { webhooks },
) => {
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) => {
    done(null, body);
  });
  app.post(
    '/v1/stripe/webhooks',
    {
      // No API key: Stripe's signature over the raw body authenticates the request.
      config: {
        scope: 'public',
        // Read unparsed (the signature is over its bytes), so documented rather than validated.
        documentedBody: {
          'application/json': z
            .record(z.string(), z.unknown())
            .describe("A Stripe event object (`{id: 'evt_…', type, data: {object}}`), as Stripe sends it"),
        },
      },
      schema: {
        tags: ['Billing'],
        operationId: 'receiveStripeWebhook',
        summary: "Stripe's webhook endpoint",
        description:
          'Stripe calls it with its events; the `Stripe-Signature` header, checked against the raw body and ' +
          '`STRIPE_WEBHOOK_SECRET`, is the authentication (no operator key). `invoice.paid` marks the invoice ' +
          'paid, `invoice.payment_failed` records a failed payment, `invoice.voided` and ' +
          '`invoice.marked_uncollectible` void the invoice or write it off, `payment_method.attached` and ' +
          '`customer.updated` record a payment method on file and `payment_method.detached` takes it off; ' +
          'other events are acknowledged and ignored. ' +
          'A replayed event (same id) changes nothing. Served only when Stripe is configured (STRIPE_SECRET_KEY).',
        security: [],
        headers: z.object({
          'stripe-signature': z
            .string()
            .optional()
            .describe("Stripe's signature of the body; a request without a valid one is refused (400)"),
        }),
        response: { 200: WebhookReceipt, 400: ProblemSchema },
      },
    },
    async (request, reply) => {
      const signature = request.headers['stripe-signature'];
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const result = await webhooks.receive(body, typeof signature === 'string' ? signature : undefined, {
        actor: { type: 'system', id: 'stripe-webhook' },
        requestId: request.id,
        sourceIp: request.ip,
      });
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};

const StripeCustomer = z
  .object({
    tenant_id: z.string(),
    stripe_customer_id: z.string().describe("Stripe's customer id (`cus_…`)"),
  })
  .meta({ id: 'StripeCustomer' });

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });

/**
 * `POST /v1/tenants/{id}/stripe-customer`, registered only when Stripe is configured: the tenant's
 * Stripe customer, made now if it has none. The vendor's app needs its id before the first
 * invoice, to let the tenant put a card on file in Stripe (Checkout, the customer portal).
 */
export const stripeCustomerRoutes: FastifyPluginAsyncZod<Pick<Services, 'stripe' | 'tenants'>> = async (
  app,
  services,
) => {
  const stripe = services.stripe;
  if (!stripe) return;
  app.post(
    '/tenants/:id/stripe-customer',
    {
      config: { scope: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'ensureStripeCustomer',
        summary: "The tenant's Stripe customer, made if it has none",
        description:
          'Idempotent: the first call makes the customer in Stripe (name, and `tenant_id` and `tenant_slug` as ' +
          'metadata), later ones return it. `stripe_unavailable` when Stripe fails; nothing is recorded then. ' +
          'Served only when Stripe is configured (STRIPE_SECRET_KEY).',
        params: TenantParams,
        response: { 200: StripeCustomer, ...notFound, ...conflict, 502: ProblemSchema },
      },
    },
    async (request, reply) => {
      const tenant = await services.tenants.get(request.params.id);
      if (!tenant.ok) return sendProblem(reply, tenant.error);
      if (tenant.value.state === 'deleted') {
        return replyProblem(
          reply,
          'tenant_deleted',
          `tenant "${tenant.value.slug}" is deleted: it gets no Stripe customer`,
        );
      }
      try {
        const customer = await stripe.sync.ensureCustomer(tenant.value.id, request.ctx);
        return { tenant_id: tenant.value.id, stripe_customer_id: customer };
      } catch (error) {
        if (error instanceof StripeRequestError)
          return replyProblem(reply, 'stripe_unavailable', error.message);
        throw error;
      }
    },
  );
};
