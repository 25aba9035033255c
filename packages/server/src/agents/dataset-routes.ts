import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { conflict, notFound, sendProblem, Timestamp } from '../http/index.ts';
import type { DatasetService } from './dataset-service.ts';

const TAGS = ['Agents'];

const TenantParams = z.object({ id: z.string().describe('Tenant id (`ten_…`) or slug') });

const Dataset = z
  .object({
    name: z.string(),
    enabled: z
      .boolean()
      .nullable()
      .describe("The customer's switch as their agent last reported it; null when it never reported one"),
    switch_reported_at: Timestamp.nullable(),
    agent_id: z.string(),
    last_seq: z.number().int().nullable(),
    last_received_at: Timestamp.nullable(),
    last_sha256: z.string().nullable().describe('SHA-256 (hex) of the last push, as JSON'),
    size_bytes: z.number().int().nullable(),
    field_names: z.array(z.string()).describe("The last push's top-level field names"),
  })
  .describe("A dataset of the tenant's self-hosted install: metadata, never its content")
  .meta({ id: 'Dataset' });

const DatasetSnapshot = z
  .object({
    name: z.string(),
    agent_id: z.string(),
    seq: z.number().int(),
    sha256: z.string(),
    size_bytes: z.number().int(),
    field_names: z.array(z.string()),
    received_at: Timestamp,
    content: z.unknown().describe("The dataset's content, exactly what its declared schema let leave"),
  })
  .meta({ id: 'DatasetSnapshot' });

/**
 * `/v1/tenants/{id}/datasets…`: what a customer's agent pushed of the datasets the customer
 * enabled (docs/agent.md, "Hybrid: opt-in datasets"). The list is metadata; reading content is
 * a scope of its own and each read is audited.
 */
export const datasetRoutes: FastifyPluginAsyncZod<{ datasets: DatasetService }> = async (
  app,
  { datasets },
) => {
  app.get(
    '/tenants/:id/datasets',
    {
      config: { scope: 'agents:read' },
      schema: {
        tags: TAGS,
        operationId: 'listDatasets',
        summary: "List the datasets the tenant's agent reports or pushed",
        description:
          "Each dataset's switch as the customer set it (reported by their agent) and its last push: sequence, time, size, SHA-256 and field names. Never content.",
        params: TenantParams,
        response: { 200: z.object({ data: z.array(Dataset) }), ...notFound },
      },
    },
    async (request, reply) => {
      const result = await datasets.list(request.params.id);
      return result.ok ? { data: result.value } : sendProblem(reply, result.error);
    },
  );

  app.get(
    '/tenants/:id/datasets/:name/latest',
    {
      config: { scope: 'datasets:read' },
      schema: {
        tags: TAGS,
        operationId: 'getLatestDataset',
        summary: "Read a dataset's latest push, decrypted",
        description:
          "Decrypts the latest push of the dataset (stored under the tenant's data key). Each read is recorded as `dataset.read`. 404 `dataset_not_found` when none was received; 409 `dataset_unreadable` when it does not decrypt.",
        params: TenantParams.extend({ name: z.string().describe('The dataset, as the vendor declares it') }),
        response: { 200: DatasetSnapshot, ...notFound, ...conflict },
      },
    },
    async (request, reply) => {
      const result = await datasets.latest(request.ctx, request.params.id, request.params.name);
      return result.ok ? result.value : sendProblem(reply, result.error);
    },
  );
};
