import { InstantInput } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import {
  conflict,
  notFound,
  PageQuery,
  ProblemSchema,
  pageOf,
  sendProblem,
  Timestamp,
} from '../http/index.ts';
import type { Services } from '../services.ts';

const TestClock = z
  .object({
    id: z.string().describe('`clk_…`'),
    name: z.string().nullable(),
    frozen_time: Timestamp.describe('The time its tenants see'),
    status: z
      .enum(['ready', 'advancing'])
      .describe('`advancing` while an advance is worked through; `ready` once all that was due has run'),
    advancing_to: Timestamp.nullable().describe('Where the advance under way goes; null when ready'),
    tenants: z.int().describe('Tenants living on the clock, deleted ones not counted'),
    created_at: Timestamp,
  })
  .meta({ id: 'TestClock' });

/** An instant, as the API takes one: ISO 8601 with a zone. */
const Instant = InstantInput.transform((text) => new Date(text));

const IdParams = z.object({ id: z.string().describe('Test clock id (`clk_…`)') });

/** `/v1/test-clocks`: clocks a vendor advances by hand, with test tenants on them (see docs/billing.md). */
export const testClockRoutes: FastifyPluginAsyncZod<Pick<Services, 'testClocks'>> = async (
  app,
  { testClocks },
) => {
  app.post(
    '/test-clocks',
    {
      config: { scope: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'createTestClock',
        summary: 'Create a test clock',
        body: z.strictObject({
          frozen_time: Instant.describe('Where the clock starts'),
          name: z.string().trim().min(1).max(200).optional(),
        }),
        response: { 201: TestClock },
      },
    },
    async (request, reply) => {
      const clock = await testClocks.create(request.ctx, request.body);
      return reply.code(201).header('location', `/v1/test-clocks/${clock.id}`).send(clock);
    },
  );

  app.get(
    '/test-clocks',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'listTestClocks',
        summary: 'List the test clocks, newest first',
        querystring: PageQuery,
        response: { 200: pageOf(TestClock) },
      },
    },
    async (request, reply) => {
      const result = await testClocks.list(request.query);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/test-clocks/:id',
    {
      config: { scope: 'billing:read' },
      schema: {
        tags: ['Billing'],
        operationId: 'getTestClock',
        summary: 'Show a test clock; `status` says whether its last advance is done',
        params: IdParams,
        response: { 200: TestClock, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await testClocks.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/test-clocks/:id/advance',
    {
      config: { scope: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'advanceTestClock',
        summary: 'Advance a test clock',
        description:
          'Answers at once with `status: advancing`; what falls due for its tenants up to `frozen_time` (trial ends, invoice runs, dunning) then runs in order, and the clock is `ready` at `frozen_time`. ' +
          '`frozen_time` must be later than the clock’s (400 `validation_failed`) and at most two billing intervals ahead of it — two months when a tenant on the clock has a monthly plan, else two years, as Stripe’s test clocks (422 `test_clock_advance_too_far`, with `max_frozen_time`); 409 `test_clock_advancing` while an advance is under way.',
        params: IdParams,
        body: z.strictObject({ frozen_time: Instant.describe('Later than the clock’s frozen_time') }),
        response: { 200: TestClock, ...notFound, ...conflict, 422: ProblemSchema },
      },
    },
    async (request, reply) => {
      const result = await testClocks.advance(request.ctx, request.params.id, request.body.frozen_time);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/test-clocks/:id',
    {
      config: { scope: 'billing:write' },
      schema: {
        tags: ['Billing'],
        operationId: 'deleteTestClock',
        summary: 'Delete a test clock and its tenants',
        params: IdParams,
        response: {
          200: z.object({ id: z.string(), deleted: z.literal(true), tenants: z.array(z.string()) }),
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const result = await testClocks.delete(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
