import { randomBytes } from 'node:crypto';
import {
  buildApp,
  createServices,
  MASTER_KEY_BYTES,
  openDatabase,
  SecretBox,
  systemClock,
} from '@tenantry/server';

/**
 * The control plane's OpenAPI document, as `GET /openapi.json` serves it, from an app built in this
 * process over an empty in-memory PGlite database: no server, no network. Stripe is configured
 * (with keys that are never used) so that the routes registered only with Stripe are in it too.
 */
export async function openApiDocument(): Promise<Record<string, unknown>> {
  const database = await openDatabase({ dataDir: 'memory://' });
  try {
    const services = createServices(
      database,
      {
        deletionRetentionDays: 30,
        poolSchema: 'public',
        entitlementMaxAgeMs: 5_000,
        usageLateWindowDays: 35,
        secrets: new SecretBox([randomBytes(MASTER_KEY_BYTES)]),
        stripe: { secretKey: 'sk_test_unused', webhookSecret: 'whsec_unused' },
      },
      systemClock,
    );
    const app = await buildApp(services, { logger: false });
    try {
      await app.ready();
      return app.swagger() as unknown as Record<string, unknown>;
    } finally {
      await app.close();
    }
  } finally {
    await database.close();
  }
}
