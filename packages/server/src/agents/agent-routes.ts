import { agentProtocol } from '@tenantry/core';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, PageQuery, pageOf, sendProblem, Timestamp } from '../http/index.ts';
import {
  type AgentService,
  DEFAULT_ENROLMENT_TTL_MINUTES,
  MAX_ENROLMENT_TTL_MINUTES,
  MAX_INPUT_BYTES,
  MAX_JOB_WAIT_SECONDS,
} from './agent-service.ts';

const TAGS = ['Agents'];

const Agent = z
  .object({
    id: z.string().describe('`agt_…`'),
    tenant_id: z.string(),
    data_plane_id: z.string().describe("The tenant's `agent` data plane (`dpl_…`)"),
    state: z.enum(['active', 'revoked']),
    connected: z
      .boolean()
      .describe('Whether it holds a connection to the control-plane process that answered'),
    version: z.string().nullable().describe("The agent's own version, as its last hello said"),
    job_types: z
      .array(z.string())
      .describe('The job types it runs: registered and on the customer allow-list'),
    last_seen_at: Timestamp.nullable(),
    credential_rotated_at: Timestamp,
    created_at: Timestamp,
    revoked_at: Timestamp.nullable(),
  })
  .describe('An enrolled agent; never its credential')
  .meta({ id: 'Agent' });

const AgentJob = z
  .object({
    id: z.string().describe('`agj_…`'),
    agent_id: z.string(),
    tenant_id: z.string(),
    type: z.string(),
    input: z.record(z.string(), z.unknown()),
    state: z.enum(['queued', 'sent', 'running', 'succeeded', 'failed', 'refused']),
    progress: z.record(z.string(), z.unknown()).nullable().describe('The last progress the agent reported'),
    output: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe("What the job's type declares as its output (metadata only), once it succeeded"),
    error: z
      .object({ code: z.string(), message: z.string(), fields: z.array(z.string()).optional() })
      .nullable()
      .describe(
        'Why it failed or was refused; a refusal for `undeclared_output` names the fields refused, never their values',
      ),
    attempts: z.number().int().describe('How many times it was offered (a disconnect interrupts an offer)'),
    created_at: Timestamp,
    updated_at: Timestamp,
    finished_at: Timestamp.nullable(),
  })
  .meta({ id: 'AgentJob' });

const AgentParams = z.object({ id: z.string().describe('Agent id (`agt_…`)') });
const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });

const JobInput = z
  .record(z.string(), z.unknown())
  .default({})
  .describe(
    `The job's input, as its type declares it: metadata (strings, numbers, booleans, null, arrays and objects of them), at most ${MAX_INPUT_BYTES} bytes of JSON`,
  );

/**
 * `/v1/tenants/{id}/agent-enrolments` and `/v1/agents…`: enrolling agents, reading and revoking
 * them, and sending them jobs (docs/agent.md). The agents themselves connect to the WebSocket at
 * `/v1/agent/connect` (agent-gateway.ts), not to these routes.
 */
export const agentRoutes: FastifyPluginAsyncZod<{ agents: AgentService }> = async (app, { agents }) => {
  app.post(
    '/tenants/:id/agent-enrolments',
    {
      config: { scope: 'agents:write' },
      schema: {
        tags: TAGS,
        operationId: 'createAgentEnrolment',
        summary: "Make a one-time enrolment token for a tenant's agent",
        description:
          "Answers the token once: only its hash is kept. The agent spends it on its first connection for a long-term credential; a second use, or a use after `expires_at`, is refused naming which. Makes the tenant's `agent` data plane when it has none.",
        params: z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') }),
        body: z
          .strictObject({
            expires_in_minutes: z
              .number()
              .int()
              .min(1)
              .max(MAX_ENROLMENT_TTL_MINUTES)
              .optional()
              .describe(`How long the token may be used; default ${DEFAULT_ENROLMENT_TTL_MINUTES}`),
          })
          .default({}),
        response: {
          201: z.object({
            id: z.string().describe('`aen_…`'),
            tenant_id: z.string(),
            data_plane_id: z.string(),
            token: z
              .string()
              .describe('The one-time enrolment token: give it to the customer, it is not shown again'),
            expires_at: Timestamp,
          }),
          ...notFound,
          ...conflict,
        },
      },
    },
    async (request, reply) => {
      const result = await agents.createEnrolment(request.ctx, request.params.id, {
        expiresInMinutes: request.body.expires_in_minutes,
      });
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(201).header('cache-control', 'no-store').send(result.value);
    },
  );

  app.get(
    '/agents',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: TAGS,
        operationId: 'listAgents',
        summary: 'List agents',
        querystring: PageQuery.extend({
          tenant_id: z.string().optional().describe("Only this tenant's agents"),
        }),
        response: { 200: pageOf(Agent) },
      },
    },
    async (request) =>
      agents.list({
        limit: request.query.limit,
        cursor: request.query.cursor,
        tenantId: request.query.tenant_id,
      }),
  );

  app.get(
    '/agents/:id',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: TAGS,
        operationId: 'getAgent',
        summary: 'Read an agent',
        params: AgentParams,
        response: { 200: Agent, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await agents.get(request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.delete(
    '/agents/:id',
    {
      config: { scope: 'agents:write' },
      schema: {
        tags: TAGS,
        operationId: 'revokeAgent',
        summary: 'Revoke an agent: it is disconnected at once and its credential refused',
        description: 'Its open jobs fail with `agent_revoked`. Revoking a revoked agent answers it as it is.',
        params: AgentParams,
        response: { 200: Agent, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await agents.revoke(request.ctx, request.params.id);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/agents/:id/jobs',
    {
      config: { scope: 'agents:write' },
      schema: {
        tags: TAGS,
        operationId: 'createAgentJob',
        summary: 'Send an agent a job',
        description:
          'Queued, and sent at once when the agent is connected (else when it connects). The agent refuses a type it does not run or that the customer did not allow; the job then ends `refused`. The same `idempotency_key` for the same agent answers the job it made (200) instead of making another.',
        params: AgentParams,
        body: z.strictObject({
          type: agentProtocol.JobType.describe(
            'The job type: `health_check`, `provision`, `migrate`, `noop` or one the vendor registered',
          ),
          input: JobInput,
          idempotency_key: z.string().min(1).max(200).optional(),
        }),
        response: { 200: AgentJob, 201: AgentJob, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const { type, input, idempotency_key } = request.body;
      const result = await agents.enqueue(request.ctx, request.params.id, {
        type,
        input,
        idempotencyKey: idempotency_key,
      });
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.created ? 201 : 200).send(result.value.job);
    },
  );

  app.get(
    '/agents/:id/jobs/:job',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: TAGS,
        operationId: 'getAgentJob',
        summary: "Read an agent's job: its state, progress and output",
        params: AgentParams.extend({ job: z.string().describe('Job id (`agj_…`)') }),
        response: { 200: AgentJob, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await agents.getJob(request.params.id, request.params.job);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );

  app.post(
    '/tenants/:id/agent-jobs',
    {
      config: { scope: 'agent-jobs:write' },
      schema: {
        tags: TAGS,
        operationId: 'createTenantAgentJob',
        summary: "Send a tenant's agent one of the vendor's job types, and wait for its result",
        description:
          "How the app serves a `byoi_agent` tenant, whose data only its agent reaches (the SDK's `tenantry.agentJob()`): the job goes to the tenant's active agent, which runs it in the customer's environment and sends back only what the type declares as its output. `provision` and `migrate` are refused here: they change the customer's database and are sent by provisioning and rollouts (`POST /v1/agents/{id}/jobs`, `agents:write`). With `wait_seconds`, the answer comes when the job has ended or when they have passed, whichever is first; a job not ended by then is answered as it is (`queued` while the agent is offline) and read later with `GET /v1/tenants/{id}/agent-jobs/{job}`.",
        params: TenantParams,
        body: z.strictObject({
          type: agentProtocol.JobType.describe(
            'A job type the vendor registered in the agent, `noop` or `health_check`',
          ),
          input: JobInput,
          idempotency_key: z
            .string()
            .min(1)
            .max(200)
            .optional()
            .describe(
              'The same key for the same tenant answers the job it made (200) instead of making another',
            ),
          wait_seconds: z
            .number()
            .int()
            .min(0)
            .max(MAX_JOB_WAIT_SECONDS)
            .default(0)
            .describe(
              `How long to wait for the job to end before answering; at most ${MAX_JOB_WAIT_SECONDS}`,
            ),
        }),
        response: { 200: AgentJob, 201: AgentJob, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const { type, input, idempotency_key, wait_seconds } = request.body;
      const result = await agents.enqueueForTenant(
        request.ctx,
        request.params.id,
        { type, input, idempotencyKey: idempotency_key },
        wait_seconds * 1_000,
      );
      if (!result.ok) return sendProblem(reply, result.error);
      return reply.code(result.value.created ? 201 : 200).send(result.value.job);
    },
  );

  app.get(
    '/tenants/:id/agent-jobs/:job',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: TAGS,
        operationId: 'getTenantAgentJob',
        summary: "Read a job sent to a tenant's agent: its state, progress and output",
        params: TenantParams.extend({ job: z.string().describe('Job id (`agj_…`)') }),
        response: { 200: AgentJob, ...notFound },
      },
    },
    async (request, reply) => {
      const result = await agents.getTenantJob(request.params.id, request.params.job);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
