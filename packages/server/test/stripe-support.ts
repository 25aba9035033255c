import type { InjectOptions } from 'fastify';
import Stripe from 'stripe';
import {
  createStripeBilling,
  type FinalizedInvoices,
  type InvoiceSettlement,
  type StripeSettings,
} from '../src/billing/index.ts';
import { buildApp } from '../src/http/app.ts';
import { systemContext } from '../src/request-context.ts';
import { createServices, type Services } from '../src/services.ts';
import { createTestDatabase, SETTINGS, type TestApp, TestClock } from './harness.ts';
import { StripeFake, stripeEvent } from './stripe-fake.ts';

/** The secrets of the test Stripe account. */
export const STRIPE_SECRET_KEY = 'sk_test_51TenantryTestAccount0000';
export const STRIPE_WEBHOOK_SECRET = 'whsec_TenantryTestEndpointSecret0000';

/** A control plane with Stripe configured, and the local fake its Stripe client talks to. */
export interface StripeTestApp extends TestApp {
  readonly stripe: NonNullable<Services['stripe']>;
  readonly fake: StripeFake;
  /**
   * Delivers a webhook as Stripe does: `event` as the raw JSON body, signed with the endpoint's
   * secret by the library's own test helper at the test clock's time (unless told otherwise).
   */
  deliver(
    event: Record<string, unknown>,
    options?: { secret?: string; timestamp?: number; signature?: string | null; body?: string },
  ): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/**
 * {@link startTestApp} with Stripe: the services get `STRIPE_SECRET_KEY` and
 * `STRIPE_WEBHOOK_SECRET`, and their Stripe client is pointed at a fresh {@link StripeFake}.
 * `invoices` replaces the invoice side the adapter talks to (a test's own implementation).
 */
export async function startStripeTestApp(
  options: { invoices?: FinalizedInvoices & InvoiceSettlement } = {},
): Promise<StripeTestApp> {
  const fake = await StripeFake.start(STRIPE_SECRET_KEY);
  const db = await createTestDatabase();
  const clock = new TestClock();
  const settings: StripeSettings = {
    secretKey: STRIPE_SECRET_KEY,
    webhookSecret: STRIPE_WEBHOOK_SECRET,
    api: fake.api,
    // The job queue retries; the library's own retries would only slow the tests.
    maxNetworkRetries: 0,
  };
  const base = createServices(db.database, { ...SETTINGS, stripe: settings }, clock);
  const stripe =
    options.invoices === undefined
      ? base.stripe
      : createStripeBilling({
          db: db.database.db,
          clock,
          jobs: base.jobs,
          settings,
          invoices: options.invoices,
          paymentMethods: base.paymentMethods,
          onChanged: (tenantId) => base.entitlements.invalidate(tenantId),
        });
  if (!stripe) throw new Error('the services were built with Stripe settings but have no Stripe adapter');
  const services: Services = { ...base, stripe };
  const created = await services.apiKeys.create(systemContext('test'), { name: 'test' });
  const app = await buildApp(services, { logger: false });
  const request: TestApp['request'] = async (req) => {
    const response = await app.inject({
      ...req,
      headers: { authorization: `Bearer ${created.secret}`, ...req.headers },
    } as InjectOptions);
    const type = String(response.headers['content-type'] ?? '');
    return {
      status: response.statusCode,
      body: type.includes('json') ? response.json() : response.body,
      headers: response.headers as Record<string, unknown>,
    };
  };
  return {
    app,
    services,
    clock,
    db,
    token: created.secret,
    request,
    stripe,
    fake,
    async deliver(event, delivery = {}) {
      const body = delivery.body ?? JSON.stringify(event);
      const signature =
        delivery.signature !== undefined
          ? delivery.signature
          : Stripe.webhooks.generateTestHeaderString({
              payload: body,
              secret: delivery.secret ?? STRIPE_WEBHOOK_SECRET,
              timestamp: delivery.timestamp ?? Math.floor(clock.now().getTime() / 1000),
            });
      const response = await app.inject({
        method: 'POST',
        url: '/v1/stripe/webhooks',
        headers: {
          'content-type': 'application/json; charset=utf-8',
          ...(signature === null ? {} : { 'stripe-signature': signature }),
        },
        payload: body,
      });
      return { status: response.statusCode, body: response.json() };
    },
    async close() {
      await app.close();
      await db.drop();
      await fake.close();
    },
  };
}

/**
 * The event Stripe sends when the Stripe invoice `stripeInvoiceId` is paid, its payment fails, or
 * someone voids it or marks it uncollectible in Stripe's dashboard.
 */
export function invoiceEvent(
  fake: StripeFake,
  type: 'invoice.paid' | 'invoice.payment_failed' | 'invoice.voided' | 'invoice.marked_uncollectible',
  stripeInvoiceId: string,
): Record<string, unknown> {
  const invoice =
    type === 'invoice.paid'
      ? fake.markPaid(stripeInvoiceId)
      : type === 'invoice.payment_failed'
        ? fake.failPayment(stripeInvoiceId)
        : Object.assign(fake.invoices.get(stripeInvoiceId) ?? {}, {
            status: type === 'invoice.voided' ? 'void' : 'uncollectible',
          });
  return stripeEvent(type, structuredClone(invoice));
}
