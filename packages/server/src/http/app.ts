import { randomUUID } from 'node:crypto';
import fastifyCookie from '@fastify/cookie';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyInstance, type FastifyServerOptions } from 'fastify';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { accessRoutes } from '../access/index.ts';
import { agentRoutes, attachAgentGateway, datasetRoutes } from '../agents/index.ts';
import { apiKeyRoutes } from '../api-keys/index.ts';
import { auditRoutes } from '../audit/index.ts';
import {
  dunningRoutes,
  invoiceRoutes,
  paymentMethodRoutes,
  stripeCustomerRoutes,
  stripeWebhookRoutes,
} from '../billing/index.ts';
import { consoleRoutes } from '../console/index.ts';
import { dataPlaneRoutes } from '../data-planes/index.ts';
import { migrationStatus } from '../db/index.ts';
import { entitlementRoutes, entitlementStreamRoutes } from '../entitlements/index.ts';
import { fleetRoutes } from '../fleet/index.ts';
import { hostedRoutes, redactLinkTokens } from '../hosted/index.ts';
import { licenseCheckInRoutes, licenseRoutes } from '../licenses/index.ts';
import { mailRoutes } from '../mail/index.ts';
import { memberRoutes, staffRoutes } from '../members/index.ts';
import { migrationRunRoutes } from '../migration-runs/index.ts';
import { oidcClientRoutes, oidcRoutes } from '../oidc/index.ts';
import { planRoutes } from '../plans/index.ts';
import { limitRequests, rateLimitShareRoutes } from '../rate-limits/index.ts';
import { brandingRoute, selfServeRoutes } from '../self-serve/index.ts';
import type { Services } from '../services.ts';
import { supportBundleRoutes } from '../support-bundles/index.ts';
import { tenantKeyRoutes } from '../tenant-keys/index.ts';
import { tenantSecretRoutes } from '../tenant-secrets/index.ts';
import { tenantRoutes } from '../tenants/index.ts';
import { testClockRoutes } from '../test-clocks/index.ts';
import { jwksRoute, tokenRoutes } from '../tokens/index.ts';
import { usageRoutes } from '../usage/index.ts';
import { usageReportRoutes } from '../usage-reports/index.ts';
import { webhookRoutes } from '../webhooks/index.ts';
import { requireApiKey, requireScopeDeclarations } from './authentication.ts';
import { idempotentPosts } from './idempotency.ts';
import { parseJsonBodies } from './json-body.ts';
import { serveMetrics } from './metrics.ts';
import { documentRoutes, openApiOptions } from './openapi.ts';
import { handleError, ProblemSchema, replyProblem } from './problem.ts';
import { rejectMalformedQueries, rejectUnstorableText } from './text-guard.ts';
import { validatorCompiler } from './validator.ts';

const REQUEST_ID = /^[\w.-]{1,128}$/;

export interface AppOptions {
  /** Pino options, or false for no logs (tests). */
  readonly logger: NonNullable<FastifyServerOptions['logger']>;
  /** The built web console's folder; packages/console/dist by default. */
  readonly consoleDir?: string | undefined;
}

/**
 * The logger options with Fastify's request serializer changed in one way: the tokens of mailed
 * links (`/reset-password?token=…`) are kept out of the log, where they would let whoever reads it
 * reset a password.
 */
function withLinkTokensRedacted(logger: AppOptions['logger']): AppOptions['logger'] {
  if (typeof logger !== 'object') return logger;
  return {
    ...logger,
    serializers: {
      req: (req) => {
        const version = req.headers['accept-version'];
        return {
          method: req.method,
          url: redactLinkTokens(req.url),
          ...(typeof version === 'string' ? { version } : {}),
          host: req.host,
          remoteAddress: req.ip,
          ...(req.socket?.remotePort === undefined ? {} : { remotePort: req.socket.remotePort }),
        };
      },
      ...logger.serializers,
    },
  };
}

/**
 * Builds the control plane's HTTP API over built services. Everything under `/v1` needs an
 * API key holding the scope the route declares (but the license check-in and the Stripe webhook,
 * which authenticate by what they carry), and takes `Idempotency-Key` on POST; `/healthz`, `/readyz`, `/metrics`,
 * `/openapi.json` and `/docs` are open. The route schemas are the API's one contract: the OpenAPI
 * document at `/openapi.json` is made from them, and the CLI and SDK use types generated from it
 * (`npm run generate:api`).
 */
export async function buildApp(services: Services, options: AppOptions): Promise<FastifyInstance> {
  const app = Fastify({
    logger: withLinkTokensRedacted(options.logger),
    // A caller's request id is kept when it is sane, so a request can be followed across systems.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && REQUEST_ID.test(given) ? given : `req_${randomUUID()}`;
    },
    bodyLimit: 5 * 1024 * 1024,
    // Errors Fastify meets before routing (a URL that is not valid percent-encoding, a path
    // parameter that is too long) get a problem document too, not Fastify's own JSON.
    frameworkErrors: (error, request, reply) => {
      handleError(error, request, reply);
    },
  }).withTypeProvider<ZodTypeProvider>();
  // Mail sent without SMTP configured is logged with the app's own logger (the links, for development).
  services.mailer.useLog(app.log);
  services.agents.useLog(app.log);

  requireScopeDeclarations(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.setErrorHandler(handleError);
  // Fastify parses text/plain bodies by default; the API takes JSON only, so text is a 415.
  app.removeContentTypeParser('text/plain');
  app.removeContentTypeParser('application/json');
  parseJsonBodies(app, 'application/json');
  rejectMalformedQueries(app);
  app.setNotFoundHandler((request, reply) =>
    replyProblem(reply, 'route_not_found', `no route for ${request.method} ${request.url}`),
  );
  // The data planes' pools (BYOI customers' databases, the vendor's servers) close with the app.
  app.addHook('onClose', () => services.dataPlaneConnector.close());
  // Synchronous, with a callback: it runs on every response, and an async hook costs a promise.
  app.addHook('onSend', (request, reply, payload, done) => {
    reply.header('x-request-id', request.id);
    done(null, payload);
  });

  // Parses cookies into every request: the hosted pages and the OpenID provider find the
  // session from them (SessionService.current).
  await app.register(fastifyCookie);
  documentRoutes(app);
  await app.register(fastifySwagger, openApiOptions());
  await app.register(fastifySwaggerUi, { routePrefix: '/docs' });
  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());

  serveMetrics(app);

  app.get(
    '/healthz',
    {
      schema: {
        tags: ['Service'],
        operationId: 'checkHealth',
        summary: 'Liveness: the process answers',
        security: [],
        response: { 200: z.object({ status: z.literal('ok') }) },
      },
    },
    async () => ({
      status: 'ok' as const,
    }),
  );

  app.get(
    '/readyz',
    {
      schema: {
        tags: ['Service'],
        operationId: 'checkReadiness',
        summary: 'Readiness: the database answers and its migrations are current',
        description: 'Answers 503 `not_ready` while a migration is pending or the database is unreachable.',
        security: [],
        response: {
          200: z.object({
            status: z.literal('ready'),
            checks: z.object({ database: z.literal('ok'), migrations: z.literal('current') }),
          }),
          503: ProblemSchema,
        },
      },
    },
    async (_request, reply) => {
      try {
        const status = await migrationStatus(services.database.db);
        if (status.pending.length > 0 || status.unknown.length > 0) {
          return replyProblem(
            reply,
            'not_ready',
            `migrations are not current (pending: ${status.pending.length}, unknown: ${status.unknown.length})`,
          );
        }
        return {
          status: 'ready' as const,
          checks: { database: 'ok' as const, migrations: 'current' as const },
        };
      } catch (error) {
        return replyProblem(
          reply,
          'not_ready',
          `the database is unreachable: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    },
  );

  await app.register(
    async (v1) => {
      requireApiKey(v1, services.apiKeys, services.userTokens);
      // Counted once the key is known and before anything is stored: a refused request does nothing.
      limitRequests(v1, services.rateLimiter);
      rejectUnstorableText(v1);
      await idempotentPosts(v1, services.database);
      // Each route plugin is handed the services it uses and no others.
      await v1.register(apiKeyRoutes, { apiKeys: services.apiKeys });
      await v1.register(planRoutes, { plans: services.plans });
      await v1.register(tenantRoutes, { tenants: services.tenants });
      await v1.register(entitlementRoutes, { entitlements: services.entitlements });
      await v1.register(entitlementStreamRoutes, {
        apiKeys: services.apiKeys,
        entitlements: services.entitlements,
        entitlementStream: services.entitlementStream,
      });
      await v1.register(usageRoutes, { tenants: services.tenants, usage: services.usage });
      await v1.register(rateLimitShareRoutes, {
        rateLimitShares: services.rateLimitShares,
        tenants: services.tenants,
      });
      await v1.register(tokenRoutes, { signingKeys: services.signingKeys, tokens: services.tokens });
      await v1.register(invoiceRoutes, {
        invoices: services.invoices,
        database: services.database,
        clock: services.clock,
      });
      await v1.register(paymentMethodRoutes, { paymentMethods: services.paymentMethods });
      await v1.register(dunningRoutes, { dunning: services.dunning });
      await v1.register(stripeCustomerRoutes, { stripe: services.stripe, tenants: services.tenants });
      await v1.register(testClockRoutes, { testClocks: services.testClocks });
      await v1.register(auditRoutes, { audit: services.audit });
      await v1.register(webhookRoutes, { webhooks: services.webhooks });
      await v1.register(licenseRoutes, { licenses: services.licenses });
      await v1.register(usageReportRoutes, { usageReports: services.usageReports });
      await v1.register(supportBundleRoutes, { supportBundles: services.supportBundles });
      await v1.register(accessRoutes, { access: services.access });
      await v1.register(memberRoutes, {
        members: services.members,
        roles: services.roles,
        accessPolicies: services.accessPolicies,
      });
      await v1.register(staffRoutes, { staff: services.staff });
      await v1.register(tenantSecretRoutes, { tenantSecrets: services.tenantSecrets });
      await v1.register(dataPlaneRoutes, { dataPlanes: services.dataPlanes });
      await v1.register(agentRoutes, { agents: services.agents });
      await v1.register(datasetRoutes, { datasets: services.datasets });
      await v1.register(tenantKeyRoutes, { tenantKeys: services.tenantKeys });
      await v1.register(mailRoutes, { mailer: services.mailer });
      await v1.register(oidcClientRoutes, { oidcClients: services.oidcClients });
      await v1.register(migrationRunRoutes, { migrationRuns: services.migrationRuns });
      await v1.register(fleetRoutes, { fleet: services.fleet });
      await v1.register(selfServeRoutes, { selfServe: services.selfServe });
    },
    { prefix: '/v1' },
  );
  // Open: apps fetch the public keys that verify access tokens without any credential.
  await app.register(jwksRoute, { signingKeys: services.signingKeys });
  // Open: the vendor's branding is what the hosted sign-in pages show anyone.
  await app.register(brandingRoute, { selfServe: services.selfServe });
  // Outside the API-key scope: the license an install presents authenticates its check-in.
  await app.register(async (open) => {
    rejectUnstorableText(open);
    await open.register(licenseCheckInRoutes, { licenses: services.licenses });
  });
  // Outside the API-key scope: the OpenID provider authenticates apps and users by its protocol.
  await app.register(oidcRoutes, { oidc: services.oidc, signingKeys: services.signingKeys });
  // Outside the API-key scope: people sign in on the hosted pages with a browser, by password and
  // session cookie; their forms are guarded by CSRF tokens.
  await app.register(async (hosted) => {
    rejectUnstorableText(hosted);
    await hosted.register(hostedRoutes, {
      accounts: services.accounts,
      sessions: services.sessions,
      mfa: services.mfa,
      mailer: services.mailer,
      members: services.members,
      selfServe: services.selfServe,
    });
  });
  // Outside the API-key scope: static pages and scripts, which call /v1 with the user's token.
  await app.register(consoleRoutes, { dir: options.consoleDir });
  // Outside the API-key scope: Stripe's signature over the raw body authenticates it.
  if (services.stripe) await app.register(stripeWebhookRoutes, { webhooks: services.stripe.webhooks });
  // Agents connect with a WebSocket upgrade on the same HTTP server: outside the API-key scope,
  // their hello (an enrolment token or their credential) authenticates them.
  const closeAgentGateway = attachAgentGateway(app.server, services.agents, app.log, services.datasets);
  app.addHook('preClose', closeAgentGateway);

  return app;
}
