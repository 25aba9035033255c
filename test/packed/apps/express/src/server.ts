// A vendor's Express app on the published SDK: the tenant from each request's access token, a
// feature check, a hard-limited action (each allowed one recorded as usage).
import { currentTenant, Tenantry } from '@tenantry/sdk';
import { expressTenantContext } from '@tenantry/sdk/express';
import express from 'express';

const tenantry = await Tenantry.open({
  url: process.env.TENANTRY_URL ?? 'http://localhost:8080',
  token: process.env.TENANTRY_TOKEN ?? '',
  usage: { spoolDirectory: process.env.SPOOL_DIR ?? '.usage-spool' },
});

const app = express();
app.use('/api', expressTenantContext(tenantry.requestContext));
app.get('/api/me', (_request, response) => {
  const { tenantId, subject } = currentTenant();
  response.json({ tenantId, subject, analytics: tenantry.can('advanced_analytics') });
});
app.post('/api/meetings', (_request, response, next) => {
  tenantry.consume('meetings').then((answer) => {
    response.status(answer.allowed ? 201 : 429).json({ allowed: answer.allowed });
  }, next);
});

const server = app.listen(Number(process.env.PORT), '127.0.0.1', () => {
  console.log('app listening');
});
process.once('SIGTERM', () => {
  server.close();
  // Leases go back and the recorded usage is sent before the process ends.
  tenantry.close().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
});
