import Stripe from 'stripe';
import type { Config } from '../config.ts';

/** How the adapter reaches Stripe: the two secrets, and for tests a local stand-in for the API. */
export type StripeSettings = NonNullable<Config['stripe']> & {
  /** Where to send API requests instead of `https://api.stripe.com` (tests' local fake). */
  readonly api?: { readonly host: string; readonly port: number; readonly protocol: 'http' | 'https' };
  /**
   * The library's own retries of a failed request (same idempotency key), before the job queue's
   * slower ones; 2 unless set.
   */
  readonly maxNetworkRetries?: number;
};

/**
 * A client of the official `stripe` library for `settings`. Requests pin the API version the
 * library was built for, so that the shapes Tenantry reads are the ones its types describe.
 */
export function createStripeClient(settings: StripeSettings): Stripe {
  return new Stripe(settings.secretKey, {
    maxNetworkRetries: settings.maxNetworkRetries ?? 2,
    timeout: 30_000,
    telemetry: false,
    appInfo: { name: 'Tenantry', url: 'https://tenantry.dev' },
    ...(settings.api ?? {}),
  });
}
