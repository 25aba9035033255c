import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const DunningCase = z
  .object({
    invoice_id: z.string(),
    invoice_number: z.string().nullable().describe('Null for a payment reported against another reference'),
    round: z
      .int()
      .describe("1 for the invoice's first failed payment; a failure after a payment opens the next"),
    opened_at: Timestamp,
    retry_at: z.array(Timestamp).describe('When each retry falls due'),
    retries_raised: z.int().describe('Retries raised so far (`invoice.payment_retry_requested`)'),
    next_retry_at: Timestamp.nullable().describe('The next retry still to come'),
    suspend_at: Timestamp.describe('When the tenant is suspended if the invoice is still unpaid'),
    suspended_at: Timestamp.nullable(),
    resolved_at: Timestamp.nullable().describe('When the invoice was paid, voided or written off'),
  })
  .meta({ id: 'DunningCase' });

const DunningStatus = z
  .object({
    tenant_id: z.string(),
    tenant_state: z.string(),
    in_dunning: z.boolean().describe('Whether an unpaid invoice holds the tenant in dunning now'),
    cases: z.array(DunningCase).describe('Oldest first, open and resolved'),
  })
  .meta({ id: 'DunningStatus' });

/** `/v1/tenants/{id}/dunning`: why a tenant is past due, and what happens next. */
export const dunningRoutes: FastifyPluginAsyncZod<Pick<Services, 'dunning'>> = async (app, services) => {
  app.get(
    '/tenants/:id/dunning',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getTenantDunning',
        summary: "Show a tenant's dunning: its unpaid invoices, their retries and the suspension date",
        params: z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') }),
        response: { 200: DunningStatus, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await services.dunning.status(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
