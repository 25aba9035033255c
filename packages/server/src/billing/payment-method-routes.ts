import { PaymentMethodInput } from '@tenantry/core/api/requests';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { Services } from '../services.ts';

const PaymentMethod = z
  .object({
    tenant_id: z.string(),
    reference: z.string(),
    brand: z.string().nullable(),
    last4: z.string().nullable(),
    created_at: Timestamp,
    updated_at: Timestamp,
  })
  .meta({ id: 'PaymentMethod' });

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });

/** `/v1/tenants/{id}/payment-method`: the one payment method a tenant may have on file. */
export const paymentMethodRoutes: FastifyPluginAsyncZod<Pick<Services, 'paymentMethods'>> = async (
  app,
  services,
) => {
  const { paymentMethods } = services;

  app.get(
    '/tenants/:id/payment-method',
    {
      config: { scope: 'billing:read', permission: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getPaymentMethod',
        summary: "Show a tenant's payment method",
        params: TenantParams,
        response: { 200: PaymentMethod, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await paymentMethods.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/payment-method',
    {
      config: { scope: 'billing:write', permission: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'setPaymentMethod',
        summary: "Put a payment method on a tenant's file",
        description:
          'Replaces the one it had. A tenant suspended because its trial ended without a payment method ' +
          '(state_reason `trial_ended_without_payment_method`) is resumed. The Stripe adapter sets it from ' +
          'Stripe; vendors who settle invoices by API set it here.',
        params: TenantParams,
        body: PaymentMethodInput,
        response: { 200: PaymentMethod, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await paymentMethods.set(request.ctx, request.params.id, request.body);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/tenants/:id/payment-method',
    {
      config: { scope: 'billing:write', permission: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'deletePaymentMethod',
        summary: "Take a tenant's payment method off file",
        description: 'Answers with the method removed.',
        params: TenantParams,
        response: { 200: PaymentMethod, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await paymentMethods.remove(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
