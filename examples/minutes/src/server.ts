import { Tenantry } from '@tenantry/sdk';
import { buildMinutesApp } from './app.ts';

/** Reads a required setting, naming it when it is missing. */
function required(name: string): string {
  const value = process.env[name];
  if (value === undefined || value === '') {
    console.error(`minutes: set ${name} (see examples/minutes/README.md)`);
    process.exit(2);
  }
  return value;
}

const tenantry = await Tenantry.open({
  url: process.env.TENANTRY_URL ?? 'http://localhost:8080',
  token: required('TENANTRY_TOKEN'),
  databaseUrl: required('MINUTES_DATABASE_URL'),
  ...(process.env.TENANTRY_ISSUER ? { accessTokens: { issuer: process.env.TENANTRY_ISSUER } } : {}),
  usage: { spoolDirectory: process.env.MINUTES_SPOOL_DIR ?? '.minutes-usage-spool' },
});
const app = buildMinutesApp(tenantry);
const address = await app.listen({
  host: process.env.HOST ?? '127.0.0.1',
  port: Number(process.env.PORT ?? 3000),
});
console.warn(`minutes listening on ${address}`);

// Leases go back, recorded usage is sent (or spooled), then the process ends.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    app
      .close()
      .then(() => tenantry.close())
      .then(
        () => process.exit(0),
        (error: unknown) => {
          console.error('minutes: shutting down failed', error);
          process.exit(1);
        },
      );
  });
}
