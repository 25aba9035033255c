// A vendor's Fastify app on the published SDK: the tenant from each request's access token, a
// feature check, a hard-limited action (each allowed one recorded as usage).
import { currentTenant, Tenantry } from '@tenantry/sdk';
import { fastifyTenantContext } from '@tenantry/sdk/fastify';
import Fastify from 'fastify';

const tenantry = await Tenantry.open({
  url: process.env.TENANTRY_URL ?? 'http://localhost:8080',
  token: process.env.TENANTRY_TOKEN ?? '',
  usage: { spoolDirectory: process.env.SPOOL_DIR ?? '.usage-spool' },
});

const app = Fastify();
await app.register(async (api) => {
  await api.register(fastifyTenantContext, tenantry.requestContext);
  api.get('/api/me', async () => {
    const { tenantId, subject } = currentTenant();
    return { tenantId, subject, analytics: tenantry.can('advanced_analytics') };
  });
  api.post('/api/meetings', async (_request, reply) => {
    const answer = await tenantry.consume('meetings');
    return reply.code(answer.allowed ? 201 : 429).send({ allowed: answer.allowed });
  });
});

await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT) });
console.log('app listening');
process.once('SIGTERM', () => {
  // Leases go back and the recorded usage is sent before the process ends.
  app
    .close()
    .then(() => tenantry.close())
    .then(
      () => process.exit(0),
      (error: unknown) => {
        console.error(error);
        process.exit(1);
      },
    );
});
